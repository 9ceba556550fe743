"""`kiosk demo --headless --mode NAME`: one whole touch-flow session per station mode, each step in session.json,
against a fresh data folder (and, for the event, the local SMTP server the demo starts itself)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from kiosk.session.store import SessionStore
from tests.conftest import kiosk_env

pytestmark = pytest.mark.slow


def _demo(mode: str, out: Path, data: Path) -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, "-m", "kiosk", "demo", "--headless", "--mode", mode, "--out", str(out)],
                          capture_output=True, text=True, env=kiosk_env(KIOSK_DATA_DIR=str(data)), timeout=280,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "session.json").read_text())
    assert summary["ok"] is True and summary["mode"] == mode
    for step in summary["steps"]:
        assert step["status"] == "ok" and step["detail"], step
        for name in step["files"]:
            assert (out / name).is_file(), name
    return {s["step"]: s for s in summary["steps"]}, proc.stdout


def _store_is_empty(data: Path) -> None:
    with SessionStore(data) as store:
        assert store.sessions() == []
    assert not [p for p in (data / "sessions").rglob("*") if p.is_file()]


def test_hr_onboarding_demo(tmp_path: Path, isolated_env: Path) -> None:
    steps, stdout = _demo("hr-onboarding", tmp_path / "out", isolated_env)
    assert list(steps) == ["mode", "kiosk-session", "badge-scan", "privacy"]
    assert "steps id; hand-off to folder as badge" in steps["mode"]["plan"] and steps["mode"]["qr"] is False
    states = steps["kiosk-session"]["states"]
    assert "identity (consent given)" in states and "framing (id typed)" in states
    assert steps["kiosk-session"]["handed_over"] == ["handoff: sent"]
    photo = cv2.imread(str(tmp_path / "out" / "handoff" / "E-10442.jpg"))
    assert photo is not None and photo.shape[:2] == (800, 600), "the badge format, exported under the typed id"
    assert steps["badge-scan"]["read"] == "E-20517"
    assert "[3/4] badge scan: OK" in stdout
    _store_is_empty(isolated_env)


def test_event_demo(tmp_path: Path, isolated_env: Path) -> None:
    pytest.importorskip("aiosmtpd.controller", reason="the event demo's SMTP server is aiosmtpd (dev extra)")
    out = tmp_path / "out"
    steps, _ = _demo("event", out, isolated_env)
    assert list(steps) == ["mode", "kiosk-session", "privacy"]
    states = steps["kiosk-session"]["states"]
    assert "email (consent given)" in states and "framing (e-mail given, opted in)" in states
    assert steps["kiosk-session"]["handed_over"] == ["mail: sent"]
    msg = email.message_from_bytes((out / "mail" / "message-1.eml").read_bytes(), policy=email.policy.SMTP)
    assert msg["To"] == "ada.lovelace@example.org"
    names = [part.get_filename() for part in msg.iter_attachments()]
    assert names == ["portrait-studio-grey.jpg", "linkedin-studio-grey.jpg"]
    rows = list(csv.reader(io.StringIO((out / "leads.csv").read_text())))
    assert rows[0] == ["time_utc", "email", "consent_version"] and rows[1][1:] == ["ada.lovelace@example.org", "1"]
    _store_is_empty(isolated_env)
