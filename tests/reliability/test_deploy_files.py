"""The appliance files in deploy/: the systemd units pass `systemd-analyze verify` and hold the restart and
watchdog policy; the udev rule names the RP2040 bridge; the start-up script turns blanking off."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def unit_keys(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as section → key → values (keys may repeat)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        out[section].setdefault(key.strip(), []).append(value.strip())
    return out


def test_service_unit_policy() -> None:
    u = unit_keys(DEPLOY / "systemd" / "headshot-kiosk.service")
    svc, unit = u["Service"], u["Unit"]
    assert svc["Type"] == ["notify"] and svc["NotifyAccess"] == ["main"]
    assert int(svc["WatchdogSec"][0]) >= 10
    assert svc["Restart"] == ["on-failure"]
    assert "StartLimitIntervalSec" in unit and "StartLimitBurst" in unit
    assert svc["ExecStart"][0].endswith("kiosk run")
    assert svc["User"] == ["headshot-kiosk"] and "dialout" in svc["SupplementaryGroups"][0]
    assert any("s off -dpms" in v for v in svc["ExecStartPre"])
    xorg = unit_keys(DEPLOY / "systemd" / "headshot-kiosk-xorg.service")["Service"]["ExecStart"][0]
    assert "-s 0" in xorg and "-dpms" in xorg and "-nolisten tcp" in xorg
    sysusers = (DEPLOY / "sysusers.d" / "headshot-kiosk.conf").read_text()
    assert re.search(r"^u headshot-kiosk ", sysusers, re.M)


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here")
    # verify also checks that the programs exist: point them at one that does, keep every directive.
    for name in ("headshot-kiosk.service", "headshot-kiosk-xorg.service"):
        text = (DEPLOY / "systemd" / name).read_text()
        text = re.sub(r"/opt/headshot-kiosk/\.venv/bin/kiosk|/usr/bin/xset|/usr/bin/Xorg", "/bin/true", text)
        (tmp_path / name).write_text(text)
    bad = tmp_path / "typo.service"
    bad.write_text((tmp_path / "headshot-kiosk.service").read_text().replace("WatchdogSec", "WatchdogSecs"))

    def verify(*names: str) -> str:
        done = subprocess.run(
            [tool, "verify", "--man=no", *(str(tmp_path / n) for n in names)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout + done.stderr

    assert "WatchdogSecs" in verify("typo.service"), "verify reports an unknown key (the check can fail)"
    report = verify("headshot-kiosk.service", "headshot-kiosk-xorg.service")
    assert "Unknown" not in report and "Failed" not in report and "error" not in report.lower(), report


def test_udev_rule_names_the_bridge() -> None:
    rules = [
        ln
        for ln in (DEPLOY / "udev" / "99-headshot-bridge.rules").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert len(rules) == 1
    rule = rules[0]
    pairs = dict(re.findall(r'([A-Za-z_{}.]+)[=!+:]?="([^"]*)"', rule))
    assert pairs["SUBSYSTEM"] == "tty"
    assert pairs["ATTRS{idVendor}"] == "2e8a" and pairs["ATTRS{idProduct}"] == "0005"  # MicroPython on RP2040
    assert 'SYMLINK+="headshot-bridge"' in rule and 'GROUP="dialout"' in rule
    udevadm = shutil.which("udevadm")
    if udevadm is not None:
        done = subprocess.run(
            [udevadm, "verify", str(DEPLOY / "udev" / "99-headshot-bridge.rules")],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if "Unknown command" not in done.stderr and "invalid option" not in done.stderr:
            assert done.returncode == 0, done.stderr


def test_autostart_session_turns_blanking_off_and_bounds_restarts() -> None:
    script = (DEPLOY / "xsession" / "headshot-kiosk-session.sh").read_text()
    assert "xset s off -dpms s noblank" in script and "kiosk" in script
    done = subprocess.run(
        ["sh", "-n", str(DEPLOY / "xsession" / "headshot-kiosk-session.sh")],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    desktop = (DEPLOY / "xsession" / "headshot-kiosk.desktop").read_text()
    assert "Exec=" in desktop and "headshot-kiosk-session.sh" in desktop
