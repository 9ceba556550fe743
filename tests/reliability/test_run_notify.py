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


def test_kiosk_run_notifies_ready_and_pings_the_watchdog(xdisplay: str, isolated_env: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'data_dir = "{isolated_env}"\n[camera]\nbackend = "virtual"\n[delivery.download]\nport = 0\n')
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "notify"))
        env = {
            **os.environ,
            "DISPLAY": xdisplay,
            "NOTIFY_SOCKET": str(tmp_path / "notify"),
            "WATCHDOG_USEC": "2000000",
            "KIVY_HOME": str(tmp_path / "kivy"),
            "KIVY_NO_ARGS": "1",
        }
        env.pop("WATCHDOG_PID", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk", "--config", str(cfg), "run", "--windowed", "--size", "540x960"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            got = receive_until(systemd, "READY=1", 120)
            assert got and "READY=1" in got[-1], (got, proc.poll())
            assert "STATUS=attract" in got[-1]
            pings = receive_until(systemd, "WATCHDOG=1", 10)
            assert any(m == "WATCHDOG=1" for m in pings), pings
            more = receive_until(systemd, "WATCHDOG=1", 10)
            assert any(m == "WATCHDOG=1" for m in more), "the pings keep coming from the UI clock"
            assert proc.poll() is None
            # systemd stops the service with SIGTERM: a clean stop, exit 0, nothing killed mid-write.
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pytest.fail("kiosk run did not stop within 60 s of SIGTERM")
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            assert rc == 0, (rc, err[-2000:])
            assert "Traceback" not in err, err[-2000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    log_file = isolated_env / "logs" / "kiosk.log"
    assert log_file.exists(), "the rotating log file is written"
    text = log_file.read_text(encoding="utf-8", errors="replace")
    assert "kiosk stopping on SIGTERM" in text, text[-2000:]


def _models_linked(data: Path, models_from: Path) -> Path:
    data.mkdir(parents=True, exist_ok=True)
    if not (data / "models").exists():
        (data / "models").symlink_to(models_from.resolve(), target_is_directory=True)
    return data


def test_sighup_refuses_a_bad_config_and_restarts_in_place_with_a_good_one(
    xdisplay: str, isolated_env: Path, tmp_path: Path
) -> None:
    """`systemctl reload` sends SIGHUP: a broken file is refused and the kiosk runs on; a valid changed
    file restarts `kiosk run` in place (same PID, RELOADING=1 then READY=1) and the new config is in force
    (here: a new data folder, where the restarted kiosk writes its log)."""
    cfg = tmp_path / "kiosk.toml"
    base = '[camera]\nbackend = "virtual"\n[delivery.download]\nport = 0\n'
    cfg.write_text(f'data_dir = "{isolated_env}"\n{base}')
    second = _models_linked(tmp_path / "data2", isolated_env / "models")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "notify"))
        env = {**os.environ, "DISPLAY": xdisplay, "NOTIFY_SOCKET": str(tmp_path / "notify"),
               "WATCHDOG_USEC": "2000000", "KIVY_HOME": str(tmp_path / "kivy"), "KIVY_NO_ARGS": "1"}
        env.pop("WATCHDOG_PID", None)
        stderr = tmp_path / "stderr.log"  # a file, not a pipe: readable for the message at any failure
        with stderr.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kiosk", "--config", str(cfg), "run", "--windowed", "--size", "540x960"],
                env=env, stdout=subprocess.DEVNULL, stderr=sink, start_new_session=True,
            )

        def why() -> str:
            return f"exit {proc.poll()}; stderr: " + stderr.read_text(errors="replace")[-3000:]

        try:
            got = receive_until(systemd, "READY=1", 120)
            assert got and "READY=1" in got[-1], (got, why())
            # A typo: refused, named, and the kiosk keeps running on the config it has.
            cfg.write_text(f'data_dir = "{isolated_env}"\n{base}[ui]\nlanguagez = ["en"]\n')
            proc.send_signal(signal.SIGHUP)
            got = receive_until(systemd, "config reload refused", 30)
            assert got and "languagez" in got[-1], (got, why())
            assert any(m == "WATCHDOG=1" for m in receive_until(systemd, "WATCHDOG=1", 10)), why()
            assert proc.poll() is None, why()
            # A valid change: restart in place once on the attract screen (it is idle now).
            cfg.write_text(f'data_dir = "{second}"\n{base}')
            proc.send_signal(signal.SIGHUP)
            got = receive_until(systemd, "RELOADING=1", 60)
            assert got and "RELOADING=1" in got[-1], (got, why())
            assert not any("STOPPING=1" in m for m in got), got
            got = receive_until(systemd, "READY=1", 120)
            assert got and "READY=1" in got[-1], (got, why())
            assert proc.poll() is None, "the same process (PID) runs on"
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=60)
            err = stderr.read_text(errors="replace")
            assert rc == 0, why()
            assert "Traceback" not in err, err[-2000:]
            # the restarted process logs to the same stderr (the journal), not to native.log
            assert err.count("kiosk ready") == 2 and "kiosk stopping on SIGTERM" in err, err[-3000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    first_log = (isolated_env / "logs" / "kiosk.log").read_text(encoding="utf-8", errors="replace")
    assert "config reload refused" in first_log and "restarting the kiosk in place" in first_log, first_log[-2000:]
    second_log = (second / "logs" / "kiosk.log").read_text(encoding="utf-8", errors="replace")
    assert "kiosk ready" in second_log and "kiosk stopping on SIGTERM" in second_log, second_log[-2000:]
