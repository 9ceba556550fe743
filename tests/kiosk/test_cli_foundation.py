"""The CLI's foundation commands end to end: demo, models, config check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2


def _kiosk(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True,
                          env=env or dict(os.environ), cwd=cwd, timeout=300, check=False)


def test_demo_writes_every_style_and_the_print_layout(isolated_env, tmp_path):
    out = tmp_path / "demo"
    proc = _kiosk("demo", "--out", str(out), env=dict(os.environ, DISPLAY=""))
    assert proc.returncode == 0, proc.stderr
    assert str(out.resolve()) in proc.stdout
    for name, size in {"portrait-studio-grey.jpg": (1500, 1200), "portrait-white.jpg": (1500, 1200),
                       "portrait-brand.jpg": (1500, 1200), "portrait-blurred.jpg": (1500, 1200),
                       "print-4x6.jpg": (1200, 1800), "linkedin.jpg": (1080, 1080), "badge.jpg": (800, 600)}.items():
        img = cv2.imread(str(out / name))
        assert img is not None, name
        assert img.shape[:2] == size, name
    assert json.loads((out / "session.json").read_text())["files"]


def test_models_verify_and_list(isolated_env):
    proc = _kiosk("models", "verify")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok") >= 4
    listing = json.loads(_kiosk("models", "list", "--json").stdout)
    assert {m["name"] for m in listing} >= {"face_detector_short", "face_detector_full", "selfie_segmenter"}


def test_models_verify_fails_on_a_missing_model(tmp_path):
    env = dict(os.environ, KIOSK_DATA_DIR=str(tmp_path))
    proc = _kiosk("models", "verify", env=env)
    assert proc.returncode == 2
    assert "kiosk models fetch" in proc.stderr


def test_config_check_names_an_unknown_key(tmp_path):
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text('[pipeline]\nretuch_strength = 0.4\n')
    proc = _kiosk("config", "check", str(cfg))
    assert proc.returncode == 2
    assert "retuch_strength" in proc.stderr and "Traceback" not in proc.stderr
    cfg.write_text('[pipeline]\nretouch_strength = 4\n')
    proc = _kiosk("config", "check", str(cfg))
    assert proc.returncode == 2 and "retouch_strength" in proc.stderr
    from kiosk.app.operator import hash_pin

    cfg.write_text(f'[pipeline]\nretouch_strength = 0.4\n[ui]\npin_hash = "{hash_pin("482916")}"\n')
    assert _kiosk("config", "check", str(cfg)).returncode == 0
