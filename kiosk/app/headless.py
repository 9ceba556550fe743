"""One guest session without a screen: the same controller and state machine, driven by simulated taps.

Used by `kiosk demo` when no display is present, and by the benchmark. The guest "taps" as soon as each
screen appears (no user delay); auto-capture fires when the framing worker says framed and still.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.app.controller import KioskController
from kiosk.session.flow import State


class DemoSessionError(RuntimeError):
    """The simulated session did not reach the end."""


@dataclass(frozen=True)
class Guest:
    """What the simulated guest types on the station's steps (None: skip the e-mail step)."""

    identity: str = "E-10442"
    email: str | None = None
    opt_in: bool = False


@dataclass
class SessionRun:
    """What a simulated session did."""

    files: list[Path] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    start_to_processed_s: float = 0.0
    total_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def run_session(
    c: KioskController,
    out_dir: Path | None,
    language: str = "en",
    style: str | None = None,
    timeout_s: float = 180.0,
    manual_after_s: float = 20.0,
    tick_s: float = 0.02,
    guest: Guest | None = None,
) -> SessionRun:
    """Drive one session from the attract screen to cleanup; copy the results to out_dir.

    Args:
        c: a started controller, in ATTRACT.
        out_dir: where the results are copied before cleanup deletes them (None: keep nothing).
        language: the language tapped.
        style: the style tapped (default: the first offered).
        timeout_s: give up after this long, s.
        manual_after_s: tap "take photo now" if auto-capture has not fired after this long, s.
        tick_s: controller tick period, s.
        guest: what to type on the id and e-mail steps, when the station has them.
    """
    run = SessionRun()
    style = style or c.ui.styles[0]
    t0 = time.monotonic()
    deadline = t0 + timeout_s

    def on_change(_old: State, new: State, reason: str) -> None:
        run.states.append(f"{new.value} ({reason})")
        if new is State.DELIVERY and c.session is not None:
            run.start_to_processed_s = time.monotonic() - t0
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                for path in c.session.results.values():
                    dst = out_dir / path.name
                    shutil.copyfile(path, dst)
                    run.files.append(dst)

    c.flow.listen(on_change)
    try:
        return _drive(c, run, out_dir, language, style, t0, deadline, manual_after_s, tick_s, timeout_s,
                      guest or Guest())
    finally:
        c.flow.unlisten(on_change)


def _drive(
    c: KioskController,
    run: SessionRun,
    out_dir: Path | None,
    language: str,
    style: str,
    t0: float,
    deadline: float,
    manual_after_s: float,
    tick_s: float,
    timeout_s: float,
    guest: Guest,
) -> SessionRun:
    framing_since: float | None = None
    seen: State | None = None
    if not _wait(c, lambda: c.camera.connected, 20.0, tick_s):
        raise DemoSessionError(f"the camera did not start ({c.camera.last_error or 'no frames'})")
    c.tap("start")
    while time.monotonic() < deadline:
        c.tick()
        st = c.state
        if st is not seen:
            seen = st
            framing_since = time.monotonic() if st is State.FRAMING else None
        if st is State.LANGUAGE:
            c.tap("language", language)
        elif st is State.CONSENT:
            c.tap("agree")
        elif st is State.IDENTITY:
            c.tap("identity", guest.identity)
            if c.state is State.IDENTITY:
                raise DemoSessionError(f"the id step refused the id ({c.station.error})")
        elif st is State.EMAIL:
            if guest.email is None:
                c.tap("skip")
            else:
                if guest.opt_in != c.station.opted_in:
                    c.tap("optin")
                c.tap("email", guest.email)
                if c.state is State.EMAIL:
                    raise DemoSessionError(f"the e-mail step refused the address ({c.station.error})")
        elif st is State.FRAMING and framing_since and time.monotonic() - framing_since > manual_after_s:
            run.notes.append("auto-capture did not fire; used the take-photo button")
            c.tap("shoot")
        elif st is State.REVIEW:
            c.tap("approve")
        elif st is State.STYLE:
            c.tap("style", style)
        elif st is State.DELIVERY:
            c.tap("done")
        elif st is State.THANKS:
            c.tap("finish")
        elif st is State.ATTRACT:
            break
        elif st is State.ATTENDANT_NEEDED:
            raise DemoSessionError(f"the session needed an attendant: {', '.join(c.flow.causes) or 'error'}")
        time.sleep(tick_s)  # pacing of the simulated UI clock
    else:
        raise DemoSessionError(f"the session did not finish within {timeout_s:g} s (stuck in {c.state.value})")
    run.total_s = time.monotonic() - t0
    if not run.files and out_dir is not None:
        raise DemoSessionError("the session ended without results")
    if out_dir is not None:
        summary = {
            "states": run.states,
            "files": [p.name for p in run.files],
            "start_to_processed_s": round(run.start_to_processed_s, 3),
            "total_s": round(run.total_s, 3),
            "notes": run.notes,
        }
        from models.store import atomic_write_bytes

        atomic_write_bytes(out_dir / "kiosk-session.json", json.dumps(summary, indent=2).encode())
    return run


def _wait(c: KioskController, cond: object, timeout_s: float, tick_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        c.tick()
        if callable(cond) and cond():
            return True
        time.sleep(tick_s)  # pacing of the simulated UI clock
    return False
