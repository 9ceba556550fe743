"""kill -9 in every guest-facing state: after a restart no guest file exists outside the session store, what
the guest was told is saved is intact, and retention removes everything the store holds.

Each case runs a headless kiosk (bench.soak.build_kiosk: the real controller, camera thread, framing worker,
bridge simulator, studio pipeline, session store and download server) in a child process that drives a
guest to the state and SIGKILLs itself there: no clean-up, no atexit.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kiosk.session.store import SessionStore, Step

REPO = Path(__file__).resolve().parents[2]
# What the data folder holds besides guest files: the journal, the store's lock and marker, logs, the
# operator's PIN lockout and the paper counter (no guest data in any of them), and the models link.
NOT_GUEST = ("journal.sqlite3", "journal.sqlite3-wal", "journal.sqlite3-shm", "store.lock", "sessions.marker")
NOT_GUEST_DIRS = ("logs", "operator", "printing", "models")

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {here!r})
    from pathlib import Path
    from bench.soak import build_kiosk
    from kiosk_driver import run_until, start_session
    from kiosk.session.flow import State

    target = State({state!r})
    kiosk = build_kiosk(Path({data!r}), None, sim_name="kill9-{state}")
    c = kiosk.controller
    assert run_until(c, lambda: c.camera.connected, 60, guest=False)
    c.tap("start")
    if target is State.THANKS:  # the guest taps "done" on the delivery screen first
        assert run_until(c, lambda: c.state is State.DELIVERY, 120, stop_at=frozenset({{State.DELIVERY}}))
        c.tap("done")
    ok = run_until(c, lambda: c.state is target, 120, stop_at=frozenset({{target}}))
    print(c.session.id if ok and c.session is not None else "FAILED " + c.state.value, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)
CAPTURED = {"review", "style", "processing", "delivery", "thanks"}


def _outside_the_store(data: Path) -> list[Path]:
    """Files under the data folder that are not the store's guest files nor known non-guest files."""
    out = []
    for p in data.rglob("*"):
        rel = p.relative_to(data)
        if rel.parts[0] == "sessions" or rel.parts[0] in NOT_GUEST_DIRS:
            continue
        if p.is_file() and p.name not in NOT_GUEST:
            out.append(p)
    return out


@pytest.mark.parametrize("state", ["language", "consent", "framing", "review", "style", "processing", "delivery",
                                   "thanks"])
def test_kill_9_leaves_no_guest_file_outside_the_store(tmp_path: Path, installed_models: Path, state: str) -> None:
    data = tmp_path / "data"
    script = CHILD.format(here=str(Path(__file__).resolve().parent), data=str(data), state=state)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "KIVY_NO_ARGS": "1"})
    assert done.returncode == -9, done.stderr[-3000:]
    sid = done.stdout.strip().splitlines()[-1]
    assert not sid.startswith("FAILED"), sid
    assert _outside_the_store(data) == [], "guest files left outside the session store"
    with SessionStore(data) as store:  # the restart: opening the store recovers
        rec = store.journal.get(sid)
        assert rec is not None and rec.step is not Step.DELETED, "the session the guest was in is known"
        if state in CAPTURED:
            assert rec.reached(Step.CAPTURED)
            (capture,) = store.files(sid, "capture")
            assert capture.path.read_bytes()[:3] == b"\xff\xd8\xff", "the capture the guest saw is intact"
            assert sid in [r.id for r in store.pending()] or rec.step is Step.DELIVERED
        for p in store.root.rglob("*"):
            want = 0o700 if p.is_dir() else 0o600
            assert stat.S_IMODE(p.stat().st_mode) == want, p
        store.sweep(now=time.time() + store.retention.max_age_hours * 3600 + 1)
        assert store.sessions() == []
        assert [p for p in store.root.rglob("*") if p.is_file()] == [], "retention removed everything"
    assert _outside_the_store(data) == []
