"""`kiosk bridge selftest | monitor` against the simulated controller, in-process and as a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_bridge import sim
from kiosk.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_selftest_passes_on_the_simulator(sim_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bridge", "selftest", "--port", sim_url]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] and summary["failures"] == []
    assert [c["ok"] for c in summary["lights"]] == [True] * 4
    assert summary["camera_outputs"] == {"focus": True, "shutter": True}
    assert summary["button_round_trip_ms"] > 0 and summary["status"]["safe"]
    assert sim.get_sim(sim_url).snapshot().camera_pulses == [1, 1]


def test_selftest_reports_a_broken_channel(sim_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    board = sim.start(sim_url)
    original = board.firmware._fade

    def stuck(channel: int, level: int, *args: object) -> None:  # channel 2's driver ignores commands
        if channel != 2:
            original(channel, level, *args)

    board.firmware._fade = stuck  # type: ignore[method-assign]  # reason: inject a hardware fault
    assert main(["bridge", "selftest", "--port", sim_url]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["ok"] is False
    assert captured.err.count("\n") == 1 and "light channel 2" in captured.err


def test_selftest_with_no_device_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bridge", "selftest", "--port", "/dev/ttyNOSUCH0", "--timeout", "0.3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/dev/ttyNOSUCH0" in err and "Traceback" not in err


def test_selftest_refuses_a_bad_baud_rate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bridge", "selftest", "--port", "sim://", "--baud", "12"]) == 2
    assert "--baud 12" in capsys.readouterr().err


def test_monitor_in_another_process_sees_a_button(sim_url: str, tmp_path: Path) -> None:
    link = tmp_path / "ttyKIOSK"
    board = sim.start(f"{sim_url}?link={link}")  # this process is the board; the monitor opens the path
    cmd = [sys.executable, "-m", "kiosk", "bridge", "monitor", "--port", str(link), "--duration", "2.5",
           "--interval", "0.5"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) as proc:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["link"] == "ready" and first["protocol"] == "1.0"
        board.press(1)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = [first] + [json.loads(line) for line in out.splitlines()]
    presses = [line for line in lines if line.get("event") == "ButtonPressed"]
    assert len(presses) == 1 and presses[0]["button"] == "PRINT" and presses[0]["synthetic"] is False
    assert any("levels" in line and line["safe"] for line in lines)


def test_sigterm_unwinds_the_command_cleanly(sim_url: str, tmp_path: Path) -> None:
    """`kill` on a running command closes what it opened (here the serial link) and exits 143, no traceback;
    without the CLI's handler the process would die at once with the signal (returncode -15)."""
    link = tmp_path / "ttyKIOSK"
    sim.start(f"{sim_url}?link={link}")
    cmd = [sys.executable, "-m", "kiosk", "bridge", "monitor", "--port", str(link), "--interval", "0.5"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) as proc:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["link"] == "ready"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "Traceback" not in err, err
