"""Gentle skin retouch: edge-preserving smoothing on skin only, keeping texture and the mean skin colour."""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.pipeline.skin import face_roi, skin_mask
from models.vision import Face

KEEP_DETAIL = 0.35  # share of fine detail left at full strength: smoother skin, never plastic
ROI_GROW = 0.25


def _support(mask: np.ndarray, margin: int) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of where mask > 0, grown by margin px and aligned to even offsets; None if empty."""
    rows = np.flatnonzero(mask.max(axis=1) > 0.0)
    cols = np.flatnonzero(mask.max(axis=0) > 0.0)
    if not rows.size:
        return None
    h, w = mask.shape
    x0, y0 = max(0, int(cols[0]) - margin) & ~1, max(0, int(rows[0]) - margin) & ~1
    x1, y1 = min(w, int(cols[-1]) + 1 + margin), min(h, int(rows[-1]) + 1 + margin)
    return x0, y0, x1, y1


def retouch(
    bgr: np.ndarray,
    face: Face,
    strength: float = 0.5,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Smooth the guest's skin by `strength` (0..1), sparing eyes, brows and mouth; returns a new image.

    The mean skin colour is restored afterwards, so the step changes texture, never tone.

    Args:
        bgr: the image, BGR uint8.
        face: the guest's face in bgr's coordinates.
        strength: 0 (off) .. 1 (strongest).
        mask: skin_mask over face_roi(face, grow=ROI_GROW), if the caller already has it.
    """
    out = bgr.copy()
    if strength <= 0.0:
        return out
    x0, y0, x1, y1 = roi = face_roi(face, bgr.shape, grow=ROI_GROW)
    if y1 - y0 < 8 or x1 - x0 < 8:
        return out
    if mask is None:
        mask = skin_mask(bgr, face, roi)
    # The smoothing runs at half resolution: pores and blemishes are a few pixels wide at any size
    # the kiosk delivers, and the blend below keeps a share of the full-resolution detail.
    sigma_space = max(1.5, face.w / 120.0)
    d = int(2 * round(1.5 * sigma_space) + 1)
    # Only the skin's own box (plus the filter's reach) is worked on: the ROI's corners outside the
    # face's ellipse have weight 0, and they are more than half of it.
    box = _support(mask, 2 * d + 2)
    if box is None:
        return out
    bx0, by0, bx1, by1 = box
    mask = mask[by0:by1, bx0:bx1]
    x0, y0 = x0 + bx0, y0 + by0
    patch = bgr[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]]
    ph, pw = patch.shape[:2]
    if ph < 8 or pw < 8:
        return out
    half = cv2.resize(patch, (max(4, pw // 2), max(4, ph // 2)), interpolation=cv2.INTER_AREA)
    smooth_half = cv2.bilateralFilter(half, d=d, sigmaColor=22.0, sigmaSpace=sigma_space)
    smooth = cv2.resize(smooth_half, (pw, ph), interpolation=cv2.INTER_LINEAR)
    weight = cv2.multiply(cv2.min(cv2.multiply(mask, 1.25), 1.0), float(np.clip(strength, 0, 1)) * (1 - KEEP_DETAIL))
    # Shift the smooth layer so the weighted mean change of every channel is zero: tone is kept.
    total = float(weight.sum())
    if total > 1.0:
        diff = cv2.subtract(smooth, patch, dtype=cv2.CV_32F).reshape(-1, 3)
        drift = np.round((weight.reshape(1, -1) @ diff)[0] / total)
        shift = (float(drift[0]), float(drift[1]), float(drift[2]), 0.0)
        # Saturates at 0 and 255: a shifted level never wraps round.
        smooth = cv2.subtract(smooth, shift)  # type: ignore[call-overload]  # reason: a Scalar; stubs list arrays
    out[y0 : y0 + ph, x0 : x0 + pw] = cv2.blendLinear(smooth, patch, weight, 1.0 - weight)
    return out
