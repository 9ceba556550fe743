"""Orientation `auto` on a landscape screen with no window manager (issue 13, item 7).

Its own X server at 1920×1080 and its own process (one Kivy window per process): the kiosk must read the
screen's size before opening its window, and lay the screens out in landscape.
"""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import pytest

from tests.conftest import REPO, kiosk_env, xvfb_display
from tests.kiosk.ui.conftest import SHOTS

pytestmark = pytest.mark.ui


def test_auto_orientation_fills_a_landscape_screen() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with xvfb_display(140, "1920x1080x24") as display:
        proc = subprocess.run([sys.executable, "-m", "tests.kiosk.ui.landscape_child", str(SHOTS)], cwd=REPO,
                              env=kiosk_env(DISPLAY=display, SDL_AUDIODRIVER="dummy"), capture_output=True,
                              text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["chosen"] == [1920, 1080] and report["window"] == [1920, 1080], report
    assert report["landscape"] is True and report["state"] == "language", report
    for name in ("guest-landscape-attract", "guest-landscape-language"):
        img = cv2.imread(str(SHOTS / f"{name}.png"))
        assert img is not None and img.shape[:2] == (1080, 1920), name
        assert img.std() > 8, f"{name} looks blank"
    # Landscape attract: the title on the left half and the steps on the right, both drawn (ink on each side).
    attract = cv2.imread(str(SHOTS / "guest-landscape-attract.png"), cv2.IMREAD_GRAYSCALE)
    left, right = attract[:, :960], attract[:, 960:]
    assert (left < 90).sum() > 5000 and (right < 90).sum() > 5000
