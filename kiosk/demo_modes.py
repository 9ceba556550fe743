"""`kiosk demo --headless --mode NAME`: one whole touch-flow session in a station mode, no hardware.

- ``hr-onboarding``: the guest types an employee id; the approved badge photo is exported through the
  hand-off outbox to a folder in the output (`handoff/`); then a synthetic camera frame with a badge QR
  code is shown to the virtual camera and the live badge scanner reads it.
- ``event``: the demo starts a local SMTP server (aiosmtpd on 127.0.0.1); the guest types an address and
  ticks the opt-in; the headshot goes through the mail outbox to that server, the message is saved in
  `mail/`, and the lead list (opt-ins only) in `leads.csv`.
- ``walk-in``: the showcase of plain `kiosk demo` (print and phone QR).

Each step is reported in session.json (with the session's own screens); the demo's guest data is deleted
from the session store at the end, as retention would.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.app.modes import describe, plan_for, with_mode
from kiosk.config import KioskConfig
from kiosk.demo import DemoReport, DemoStep, run_headless, run_steps, write_summary
from kiosk.errors import KioskError
from models.store import atomic_write_bytes

DEMO_ID = "E-10442"
BADGE_ID = "E-20517"
DEMO_ADDRESS = "ada.lovelace@example.org"
MODE_LINES = {
    "hr-onboarding": "a typed employee id, the badge photo exported to a folder, a badge QR read from a frame",
    "event": "an opted-in e-mail address, the headshot sent to a local SMTP server, the lead list",
    "walk-in": "this showcase: print and the phone's QR download",
}


@dataclass
class _Run:
    base: KioskConfig
    out_dir: Path
    mode: str
    cfg: KioskConfig | None = None
    smtp: Any = None
    received: list[bytes] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)  # store sessions the demo's outboxes used
    leads: set[str] = field(default_factory=set)  # store sessions of the demo's lead-list rows
    guest_sessions: set[str] = field(default_factory=set)


def mode_lines() -> list[str]:
    """One line per mode for plain `kiosk demo`: what `--mode NAME` shows."""
    return [f"mode {m}: kiosk demo --headless --mode {m} ({what})" for m, what in MODE_LINES.items()]


def run_mode(
    cfg: KioskConfig, out_dir: Path, mode: str, on_step: Callable[[DemoStep, int, int], None] | None = None
) -> DemoReport:
    """Run one session in `mode` (see the module docstring); write the output and session.json to out_dir."""
    if mode == "walk-in":
        return run_headless(cfg, out_dir, on_step=on_step)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = DemoReport(out_dir)
    run = _Run(cfg, out_dir, mode)
    steps: list[tuple[str, str, Callable[[Any, DemoStep], None]]] = [
        ("mode", f"station mode {mode}", _mode),
        ("kiosk-session", "kiosk session (touch flow)", _session),
    ]
    if mode == "hr-onboarding":
        steps.append(("badge-scan", "badge scan", _badge))
    steps.append(("privacy", "privacy", _privacy))
    t0 = time.monotonic()
    try:
        run_steps(steps, run, report, on_step, core="mode")
    finally:
        if run.smtp is not None:
            run.smtp.stop()
    write_summary(report, t0, {"mode": mode})
    return report


# --- 1. the mode's config --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mode(run: _Run, step: DemoStep) -> None:
    if run.mode == "hr-onboarding":
        changes: dict[str, Any] = {"delivery": {"handoff": {
            "target": "folder", "folder": str(run.out_dir / "handoff"), "retry_initial_s": 0.5}}}
    else:
        port = _start_smtp(run)
        changes = {"delivery": {"mail": {"host": "127.0.0.1", "port": port, "security": "none",
                                         "retry_initial_s": 0.5},
                                "download": {"bind": ["127.0.0.1"], "port": 0}},  # beside a running kiosk
                   "station": {"lead_list": True}}
    run.cfg = with_mode(run.base, run.mode, changes)
    plan = plan_for(run.cfg)
    d = run.cfg.delivery
    step.data = {"plan": describe(plan), "formats": list(run.cfg.ui.formats), "qr": d.download.enabled}
    step.detail = (f"{describe(plan)}; phone QR {'on' if d.download.enabled else 'off'}, formats "
                   f"{', '.join(run.cfg.ui.formats)}" + (f"; SMTP server on 127.0.0.1:{d.mail.port}"
                                                         if run.smtp is not None else ""))


def _start_smtp(run: _Run) -> int:
    try:
        from aiosmtpd.controller import Controller
    except ImportError as err:
        raise KioskError("the event demo needs aiosmtpd for its local SMTP server: pip install "
                         "'headshot-kiosk[demo]'") from err

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
            run.received.append(bytes(envelope.content))
            return "250 Message accepted"

    port = _free_port()
    run.smtp = Controller(Sink(), hostname="127.0.0.1", port=port)
    run.smtp.start()
    return port


# --- 2. the touch flow -----------------------------------------------------------------------------------


def _session(run: _Run, step: DemoStep) -> None:
    from kiosk.app.assemble import Overrides, assemble, demo_devices
    from kiosk.app.headless import Guest, run_session
    from kiosk.session.flow import State

    cfg = run.cfg
    assert cfg is not None  # reason: set by the mode step
    camera, lights = demo_devices(cfg)
    parts = assemble(cfg, Overrides(camera=camera, lights=lights, sweeper=False))
    c = parts.controller
    went: list[str] = []

    def note(_old: State, new: State, _reason: str) -> None:
        if c.session is not None:
            run.guest_sessions.add(c.session.id)
        if new is State.DELIVERY:
            run.holders.extend(s.holder for s in c.station.sent)

    c.flow.listen(note)
    guest = Guest(DEMO_ID) if run.mode == "hr-onboarding" else Guest(email=DEMO_ADDRESS, opt_in=True)
    leads_before = {f.session_id for f in parts.store.files_of_kind("lead")}
    try:
        c.start()
        result = run_session(c, run.out_dir / "kiosk-session", guest=guest)
        run.leads = {f.session_id for f in parts.store.files_of_kind("lead")} - leads_before
        sent = _wait_sent(parts.outboxes, run, 60.0)
        went = [f"{kind}: {outcome}" for kind, outcome in sent]
        step.data = {"states": result.states, "start_to_processed_s": round(result.start_to_processed_s, 2),
                     "handed_over": went}
        if run.mode == "hr-onboarding":
            _exported(run, step)
        else:
            _mailed(run, step, parts.store)
    finally:
        c.flow.unlisten(note)
        parts.close()
    if any(not w.endswith(": sent") for w in went) or not went:
        raise KioskError(f"the photo was not handed over: {', '.join(went) or 'nothing queued'}")


def _wait_sent(outboxes: Any, run: _Run, timeout_s: float) -> list[tuple[str, str]]:
    """Each queued item's outcome once sent or after timeout_s (the sender threads retry meanwhile)."""
    kind = "handoff" if run.mode == "hr-onboarding" else "mail"
    deadline = time.monotonic() + timeout_s
    while True:
        outcomes = [(kind, outboxes.outcome(h, kind)) for h in run.holders]
        if (outcomes and all(o == "sent" for _, o in outcomes)) or time.monotonic() > deadline:
            return outcomes
        time.sleep(0.1)  # the sender thread works meanwhile


def _exported(run: _Run, step: DemoStep) -> None:
    exported = run.out_dir / "handoff" / f"{DEMO_ID}.jpg"
    if not exported.is_file():
        raise KioskError(f"nothing was exported to {exported.parent}")
    img = cv2.imread(str(exported), cv2.IMREAD_COLOR)
    size = None if img is None else [int(img.shape[1]), int(img.shape[0])]
    step.files = [exported.relative_to(run.out_dir).as_posix()]
    step.data["export"] = {"file": step.files[0], "size_px": size}
    step.detail = (f"id {DEMO_ID} typed (simulated taps); the approved badge photo ({size[0]}×{size[1]}) "
                   f"exported by the hand-off outbox to handoff/{DEMO_ID}.jpg" if size else "unreadable export")


def _mailed(run: _Run, step: DemoStep, store: Any) -> None:
    from kiosk.app.outboxes import write_lead_csv

    mail_dir = run.out_dir / "mail"
    for i, message in enumerate(run.received, 1):
        atomic_write_bytes(mail_dir / f"message-{i}.eml", message)
    leads = write_lead_csv(store, run.out_dir / "leads.csv")
    step.files = [f"mail/message-{i}.eml" for i in range(1, len(run.received) + 1)] + ["leads.csv"]
    step.data["mail"] = {"messages": len(run.received), "lead_rows": leads}
    if not run.received:
        raise KioskError("the SMTP server received nothing")
    step.detail = (f"{DEMO_ADDRESS} typed (simulated taps) with the opt-in ticked; the headshot e-mailed through "
                   f"the local SMTP server (mail/message-1.eml, {len(run.received[0]) / 1e3:.0f} kB); lead list: "
                   f"{leads} row in leads.csv")


# --- 3. badge ---------------------------------------------------------------------------------------------


def badge_frame(text: str, width: int = 960, height: int = 720) -> np.ndarray:
    """A synthetic camera frame: the demo portrait with a badge (white card, QR code of text) held up."""
    import io

    import segno

    from kiosk.camera.virtual import demo_portrait_path, fit_into

    portrait = cv2.imread(str(demo_portrait_path()), cv2.IMREAD_COLOR)
    buf = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buf, kind="png", scale=6, border=4)
    qr = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    if portrait is None or qr is None:
        raise KioskError("cannot decode the demo portrait or the badge's QR code")
    frame = fit_into(portrait, width, height)
    h, w = qr.shape[:2]
    x, y = width - w - 60, height - h - 60
    frame[y - 20 : y + h + 20, x - 20 : x + w + 20] = 255  # the badge card
    frame[y : y + h, x : x + w] = qr
    return frame


def _badge(run: _Run, step: DemoStep) -> None:
    from kiosk.app.station import BadgeScanner
    from kiosk.camera.base import CameraThread
    from kiosk.camera.config import VirtualCameraConfig
    from kiosk.camera.virtual import VirtualCamera
    from kiosk.delivery.handoff import validate_identity

    assert run.cfg is not None  # reason: set by the mode step
    frame = badge_frame(BADGE_ID)
    ok, png = cv2.imencode(".png", frame)
    if not ok:
        raise KioskError("cannot encode the badge frame")
    atomic_write_bytes(run.out_dir / "badge-frame.png", png.tobytes())
    camera = VirtualCamera(VirtualCameraConfig(motion=0.0))
    camera.hold_up(frame)
    thread = CameraThread(camera)
    scanner = BadgeScanner(thread).start()
    t0 = time.monotonic()
    try:
        thread.start()
        scanner.resume()
        while scanner.latest() is None and time.monotonic() - t0 < 20.0:
            time.sleep(0.05)  # the scanner thread looks at frames meanwhile
        found = scanner.latest()
    finally:
        scanner.stop()
        thread.stop()
    if found is None:
        raise KioskError("the badge scanner read nothing in 20 s")
    ident = validate_identity(found[1], run.cfg.delivery.handoff)
    seconds = time.monotonic() - t0
    step.files = ["badge-frame.png"]
    step.data = {"read": ident, "scans": scanner.scans, "seconds_to_read": round(seconds, 2)}
    step.detail = (f"badge-frame.png (a badge QR held up to the virtual camera) read as {ident} by the live "
                   f"badge scanner in {seconds:.1f} s ({scanner.scans} frames looked at); the id pattern accepts it")


# --- 4. privacy -------------------------------------------------------------------------------------------


def _privacy(run: _Run, step: DemoStep) -> None:
    from kiosk.session.store import SessionStore

    assert run.cfg is not None  # reason: set by the mode step
    ids = {*run.guest_sessions, *run.holders, *run.leads}
    with SessionStore(run.cfg.data_dir, run.cfg.retention) as store:
        # The demo's lead row went to leads.csv: the store keeps nothing of the demo's guest.
        for sid in ids & {s.id for s in store.sessions()}:
            store.delete(sid)
        left = {s.id for s in store.sessions()} & ids
    step.data = {"sessions": len(ids), "left": len(left)}
    if left:
        raise KioskError(f"{len(left)} demo session(s) still in the session store")
    step.detail = (f"the guest's session (id or address typed, capture, results) ended with the visit; the "
                   f"{len(run.holders)} hand-over item(s) left the store once sent"
                   + (f"; {len(run.leads)} lead row(s) deleted after the export" if run.leads else ""))
