"""Colour maths against published values, and the retouch step's promise: texture changes, tone does not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kiosk.pipeline.colour import bgr_to_lab, delta_e2000, ita_degrees, ita_group, mean_lab
from kiosk.pipeline.imageio import load_image
from kiosk.pipeline.retouch import retouch
from kiosk.pipeline.skin import face_roi, skin_mask
from tests.conftest import SINGLE_FACE_PORTRAITS, portrait


def test_lab_of_known_colours():
    white = bgr_to_lab(np.array([[[255, 255, 255]]], np.uint8))[0, 0]
    assert white[0] == pytest.approx(100.0, abs=0.1) and abs(white[1]) < 0.5 and abs(white[2]) < 0.5
    red = bgr_to_lab(np.array([[[0, 0, 255]]], np.uint8))[0, 0]
    assert red == pytest.approx([53.24, 80.09, 67.20], abs=0.6)  # sRGB red, D65


def test_ita_groups_order_from_light_to_dark():
    assert ita_group(ita_degrees(np.array([75.0, 8.0, 14.0]))) in ("very-light", "light")
    assert ita_group(ita_degrees(np.array([35.0, 12.0, 18.0]))) in ("brown", "dark")


@pytest.mark.parametrize("name", SINGLE_FACE_PORTRAITS)
def test_retouch_keeps_skin_tone(studio, name):
    """ΔE2000 of the mean skin colour across the retouch step ≤ 2 on every portrait, and it does act."""
    bgr = load_image(portrait(name)).bgr
    result = studio.headshot(bgr, fmt="portrait")
    face = result.face
    before = result.image
    after = retouch(before, face, strength=1.0)
    x0, y0, x1, y1 = roi = face_roi(face, before.shape)
    mask = skin_mask(before, face, roi)
    de = float(delta_e2000(mean_lab(before[y0:y1, x0:x1], mask), mean_lab(after[y0:y1, x0:x1], mask)))
    assert de <= 2.0, de
    change = np.abs(after.astype(int) - before.astype(int))[y0:y1, x0:x1].mean(axis=2)
    assert change[mask > 0.5].mean() > 0.2  # the step is not a no-op


def test_retouch_removes_blemishes_but_keeps_texture(studio):
    """Speckle added to the skin is mostly smoothed away; eyes stay sharp."""
    bgr = load_image(portrait("nasa_man_hispanic_mustache_01.jpg")).bgr
    result = studio.headshot(bgr, fmt="portrait")
    face = result.face
    clean = result.image
    x0, y0, x1, y1 = roi = face_roi(face, clean.shape)
    mask = skin_mask(clean, face, roi)
    rng = np.random.default_rng(3)
    speckle = cv2.GaussianBlur(rng.normal(0, 30, clean.shape[:2]).astype(np.float32), (0, 0), 1.2)
    blemished = np.clip(clean.astype(np.float32) + speckle[..., None], 0, 255).astype(np.uint8)
    after = retouch(blemished, face, strength=1.0)
    # Compare against the retouch of the clean image, so only the response to the speckle is measured.
    baseline = retouch(clean, face, strength=1.0).astype(np.float32)
    added = (blemished.astype(np.float32) - clean)[y0:y1, x0:x1][mask > 0.7]
    left = (after.astype(np.float32) - baseline)[y0:y1, x0:x1][mask > 0.7]
    ratio = float(np.abs(left).mean() / np.abs(added).mean())
    assert ratio < 0.7, ratio  # most of the speckle is gone
    de = float(delta_e2000(mean_lab(blemished[y0:y1, x0:x1], mask), mean_lab(after[y0:y1, x0:x1], mask)))
    assert de <= 2.0


def test_retouch_spares_the_eyes(studio):
    bgr = load_image(portrait("house_woman_elderly_glasses_01.jpg")).bgr
    result = studio.headshot(bgr, fmt="portrait")
    after = retouch(result.image, result.face, strength=1.0)
    for name in ("right_eye", "left_eye"):
        x, y = (round(v) for v in result.face.keypoints[name])
        r = max(3, round(0.12 * result.face.interocular))
        a = result.image[y - r : y + r, x - r : x + r].astype(int)
        b = after[y - r : y + r, x - r : x + r].astype(int)
        assert np.abs(a - b).mean() < 1.0
