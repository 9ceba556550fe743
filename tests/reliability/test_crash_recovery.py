"""kill -9 right after the guest sees their capture: on restart the capture is in the journal, intact, and
reported as waiting (the store's pending list, `kiosk doctor`). The kiosk runs in a child process that
SIGKILLs itself on the review screen: no clean-up, no atexit, like a power cut for everything the kernel
had not yet flushed (the journal and the files are fsynced before the screen changes)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from kiosk.commands.doctor import WARN, check_journal
from kiosk.config import parse_config
from kiosk.session.store import SessionStore, Step

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {here!r})
    from pathlib import Path
    from bench.soak import build_kiosk
    from kiosk_driver import run_until, start_session
    from kiosk.session.flow import State

    kiosk = build_kiosk(Path({data!r}), None, sim_name="crash")
    c = kiosk.controller
    sid = start_session(c)
    ok = run_until(c, lambda: c.state is State.REVIEW, 60, stop_at=frozenset({{State.REVIEW}}))
    print(sid if ok else "FAILED " + c.state.value, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_capture_survives_kill_9_and_is_reported_on_restart(tmp_path: Path, installed_models: Path) -> None:
    data = tmp_path / "data"
    script = CHILD.format(here=str(Path(__file__).resolve().parent), data=str(data))
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "KIVY_NO_ARGS": "1"},
    )
    assert done.returncode == -9, done.stderr[-2000:]
    sid = done.stdout.strip().splitlines()[-1]
    assert not sid.startswith("FAILED"), sid
    with SessionStore(data) as store:  # opening the store runs crash recovery
        pending = store.pending()
        assert [r.id for r in pending] == [sid]
        assert pending[0].step is Step.CAPTURED
        (capture,) = store.files(sid, "capture")
        data_bytes = capture.path.read_bytes()
        assert hashlib.sha256(data_bytes).hexdigest() == capture.sha256 and data_bytes[:3] == b"\xff\xd8\xff"
        assert store.journal.integrity_ok()
    cfg = parse_config({"data_dir": str(data)})
    report = check_journal(cfg)
    assert report.level == WARN and "1 captured session" in report.detail, json.dumps(vars(report))
