"""`kiosk run` as systemd starts it: a real Kivy window under Xvfb, $NOTIFY_SOCKET pointing at a unix
datagram socket held by the test (systemd's end), $WATCHDOG_USEC set. READY=1 arrives once the UI is up,
then WATCHDOG=1 keeps coming from the UI clock, and the rotating log file is written."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import xvfb_display


@pytest.fixture(scope="module")
def xdisplay() -> Iterator[str]:
    """A real X server (Xvfb) on a free display number."""
    with xvfb_display(300, "1080x1920x24") as display:
        yield display


def receive_until(sock: socket.socket, wanted: str, timeout_s: float) -> list[str]:
    """Datagrams until one holds `wanted` (or the deadline)."""
    got: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except TimeoutError:
            break
        got.append(msg)
        if wanted in msg:
            break
    return got


@dataclass
class KioskRun:
    """`kiosk run` as systemd starts it, with the test holding systemd's notify socket."""

    proc: subprocess.Popen[bytes]
    systemd: socket.socket
    stderr: Path

    def receive_until(self, wanted: str, timeout_s: float) -> list[str]:
        return receive_until(self.systemd, wanted, timeout_s)

    def err(self) -> str:
        return self.stderr.read_text(errors="replace")

    def why(self) -> str:
        """For assertion messages: the exit status and stderr's tail (a file: readable at any failure)."""
        return f"exit {self.proc.poll()}; stderr: " + self.err()[-3000:]

    def stop(self) -> int:
        """systemd's stop: SIGTERM, a clean exit within 60 s."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # the kiosk dumps every thread's stack to stderr
            time.sleep(1.0)
            pytest.fail("kiosk run did not stop within 60 s of SIGTERM; " + self.why())


@contextmanager
def kiosk_run(cfg: Path, xdisplay: str, tmp_path: Path) -> Iterator[KioskRun]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "notify"))
        env = {**os.environ, "DISPLAY": xdisplay, "NOTIFY_SOCKET": str(tmp_path / "notify"),
               "WATCHDOG_USEC": "2000000", "KIVY_HOME": str(tmp_path / "kivy"), "KIVY_NO_ARGS": "1"}
        env.pop("WATCHDOG_PID", None)
        stderr = tmp_path / "stderr.log"
        with stderr.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kiosk", "--config", str(cfg), "run", "--windowed", "--size", "540x960"],
                env=env, stdout=subprocess.DEVNULL, stderr=sink, start_new_session=True,
            )
        try:
            yield KioskRun(proc, systemd, stderr)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


# An operator PIN (482916): `kiosk run` refuses to start without one.
BASE = (
    '[camera]\nbackend = "virtual"\n[delivery.download]\nport = 0\n[ui]\npin_hash = "pbkdf2_sha256$120000$'
    '00112233445566778899aabbccddeeff$e3711062fe6201e1f4ceb4183b7926a3bf1b7af61c13f881a935e4fd89fddf46"\n'
)


def test_kiosk_run_notifies_ready_and_pings_the_watchdog(xdisplay: str, isolated_env: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'data_dir = "{isolated_env}"\n{BASE}')
    with kiosk_run(cfg, xdisplay, tmp_path) as run:
        got = run.receive_until("READY=1", 120)
        assert got and "READY=1" in got[-1], (got, run.why())
        assert "STATUS=attract" in got[-1], (got, run.why())
        pings = run.receive_until("WATCHDOG=1", 10)
        assert any(m == "WATCHDOG=1" for m in pings), pings
        more = run.receive_until("WATCHDOG=1", 10)
        assert any(m == "WATCHDOG=1" for m in more), "the pings keep coming from the UI clock"
        assert run.proc.poll() is None, run.why()
        # systemd stops the service with SIGTERM: a clean stop, exit 0, nothing killed mid-write.
        assert run.stop() == 0, run.why()
        assert "Traceback" not in run.err() and "Logging error" not in run.err(), run.why()
    log_file = isolated_env / "logs" / "kiosk.log"
    assert log_file.exists(), "the rotating log file is written"
    text = log_file.read_text(encoding="utf-8", errors="replace")
    assert "kiosk stopping on SIGTERM" in text, text[-2000:]


def test_sighup_refuses_a_bad_config_and_restarts_in_place_with_a_good_one(
    xdisplay: str, isolated_env: Path, tmp_path: Path
) -> None:
    """`systemctl reload` sends SIGHUP: a broken file is refused and the kiosk runs on; a valid changed
    file restarts `kiosk run` in place (same PID, RELOADING=1 then READY=1) and the new config is in force
    (here: a new data folder, where the restarted kiosk writes its log)."""
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'data_dir = "{isolated_env}"\n{BASE}')
    second = tmp_path / "data2"
    second.mkdir()
    (second / "models").symlink_to((isolated_env / "models").resolve(), target_is_directory=True)
    with kiosk_run(cfg, xdisplay, tmp_path) as run:
        got = run.receive_until("READY=1", 120)
        assert got and "READY=1" in got[-1], (got, run.why())
        # A typo: refused, named, and the kiosk keeps running on the config it has.
        cfg.write_text(f'data_dir = "{isolated_env}"\n{BASE}languagez = ["en"]\n')
        run.proc.send_signal(signal.SIGHUP)
        got = run.receive_until("config reload refused", 30)
        assert got and "languagez" in got[-1], (got, run.why())
        assert any(m == "WATCHDOG=1" for m in run.receive_until("WATCHDOG=1", 10)), run.why()
        assert run.proc.poll() is None, run.why()
        # A valid change: restart in place once on the attract screen (it is idle now).
        cfg.write_text(f'data_dir = "{second}"\n{BASE}')
        run.proc.send_signal(signal.SIGHUP)
        got = run.receive_until("RELOADING=1", 60)
        assert got and "RELOADING=1" in got[-1], (got, run.why())
        assert not any("STOPPING=1" in m for m in got), got
        got = run.receive_until("READY=1", 120)
        assert got and "READY=1" in got[-1], (got, run.why())
        assert run.proc.poll() is None, "the same process (PID) runs on"
        assert run.stop() == 0, run.why()
        err = run.err()
        assert "Traceback" not in err and "Logging error" not in err, run.why()
        # the restarted process logs to the same stderr (the journal), not to native.log
        assert err.count("kiosk ready") == 2 and "kiosk stopping on SIGTERM" in err, run.why()
    first_log = (isolated_env / "logs" / "kiosk.log").read_text(encoding="utf-8", errors="replace")
    assert "config reload refused" in first_log and "restarting the kiosk in place" in first_log, first_log[-2000:]
    second_log = (second / "logs" / "kiosk.log").read_text(encoding="utf-8", errors="replace")
    assert "kiosk ready" in second_log and "kiosk stopping on SIGTERM" in second_log, second_log[-2000:]
