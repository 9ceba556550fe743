"""Gentle skin retouch: edge-preserving smoothing on skin only, keeping texture and the mean skin colour."""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.pipeline.skin import face_roi, skin_mask
from models.vision import Face


def retouch(bgr: np.ndarray, face: Face, strength: float = 0.5) -> np.ndarray:
    """Smooth the guest's skin by `strength` (0..1), sparing eyes, brows and mouth; returns a new image.

    Texture is never removed entirely (at full strength 35% of the fine detail stays), and the mean
    skin colour is restored afterwards, so the retouch cannot shift the guest's skin tone.
    """
    out = bgr.copy()
    if strength <= 0.0:
        return out
    roi = face_roi(face, bgr.shape, grow=0.25)
    x0, y0, x1, y1 = roi
    patch = bgr[y0:y1, x0:x1]
    if patch.shape[0] < 8 or patch.shape[1] < 8:
        return out
    mask = np.minimum(1.0, 1.25 * skin_mask(bgr, face, roi)) * float(np.clip(strength, 0.0, 1.0))
    # The smoothing runs at half resolution: pores and blemishes are a few pixels wide at any size
    # the kiosk delivers, and the detail layer below brings back what the half-size pass cannot see.
    ph, pw = patch.shape[:2]
    half = cv2.resize(patch, (max(4, pw // 2), max(4, ph // 2)), interpolation=cv2.INTER_AREA)
    sigma_space = max(1.5, face.w / 120.0)
    smooth_half = cv2.bilateralFilter(half, d=int(2 * round(1.5 * sigma_space) + 1), sigmaColor=22.0,
                                      sigmaSpace=sigma_space)
    smooth = cv2.resize(smooth_half, (pw, ph), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    src = patch.astype(np.float32)
    keep_detail = 0.35
    retouched = smooth + keep_detail * (src - smooth)
    m = mask[..., None]
    blended = src + m * (retouched - src)
    # Restore the mean colour of the skin so that the step changes texture, never tone.
    weight = mask.sum()
    if weight > 1.0:
        drift = ((blended - src) * m).sum(axis=(0, 1)) / weight
        blended -= m * drift
    out[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out
