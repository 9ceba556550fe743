"""Gentle skin retouch: edge-preserving smoothing on skin only, keeping texture and the mean skin colour."""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.pipeline.skin import face_roi, skin_mask
from models.vision import Face

KEEP_DETAIL = 0.35  # share of fine detail left at full strength: smoother skin, never plastic
ROI_GROW = 0.25


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
    patch = bgr[y0:y1, x0:x1]
    ph, pw = patch.shape[:2]
    if ph < 8 or pw < 8:
        return out
    if mask is None:
        mask = skin_mask(bgr, face, roi)
    # The smoothing runs at half resolution: pores and blemishes are a few pixels wide at any size
    # the kiosk delivers, and the blend below keeps a share of the full-resolution detail.
    half = cv2.resize(patch, (max(4, pw // 2), max(4, ph // 2)), interpolation=cv2.INTER_AREA)
    sigma_space = max(1.5, face.w / 120.0)
    smooth_half = cv2.bilateralFilter(half, d=int(2 * round(1.5 * sigma_space) + 1), sigmaColor=22.0,
                                      sigmaSpace=sigma_space)
    smooth = cv2.resize(smooth_half, (pw, ph), interpolation=cv2.INTER_LINEAR)
    weight = cv2.multiply(cv2.min(cv2.multiply(mask, 1.25), 1.0), float(np.clip(strength, 0, 1)) * (1 - KEEP_DETAIL))
    # Shift the smooth layer so the weighted mean change of every channel is zero: tone is kept.
    diff = smooth.astype(np.int16) - patch.astype(np.int16)
    total = float(weight.sum())
    if total > 1.0:
        drift = np.tensordot(weight, diff, axes=([0, 1], [0, 1])) / total
        smooth = np.clip(smooth.astype(np.int16) - np.round(drift).astype(np.int16), 0, 255).astype(np.uint8)
    out[y0:y1, x0:x1] = cv2.blendLinear(smooth, patch, weight, 1.0 - weight)
    return out
