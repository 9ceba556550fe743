"""Exposure and white balance, decided from the face region and applied in linear light.

Fairness is designed in: exposure is judged from the frame's highlights, not from how light the
guest's skin is, so darker skin is not brightened towards a lighter target; white balance only pulls
the face's hue into the band that skin of every tone shares, preserving luminance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.pipeline.colour import bgr_to_lab
from kiosk.pipeline.skin import face_roi, skin_mask
from models.vision import Face, downscale

# Skin of every tone sits in a narrow CIELAB hue band (roughly 30–70°); outside it, the light has a cast.
SKIN_HUE_BAND = (30.0, 70.0)
UNDEREXPOSED_P99 = 120.0
_LEVELS = np.arange(256, dtype=np.float64) / 255.0
_TO_LINEAR = np.where(_LEVELS <= 0.04045, _LEVELS / 12.92, ((_LEVELS + 0.055) / 1.055) ** 2.4)


def _encode(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)


@dataclass(frozen=True)
class LightCorrection:
    """What the light step decided: per-channel gains (B, G, R) in linear light and an exposure gain."""

    wb_gains: tuple[float, float, float]
    exposure: float
    skin_hue_deg: float

    @property
    def is_identity(self) -> bool:
        """True when nothing changes."""
        return self.exposure == 1.0 and self.wb_gains == (1.0, 1.0, 1.0)


def estimate(
    bgr: np.ndarray,
    face: Face,
    valid: np.ndarray | None = None,
    roi: tuple[int, int, int, int] | None = None,
    mask: np.ndarray | None = None,
    small: np.ndarray | None = None,
) -> LightCorrection:
    """Decide exposure and white-balance gains for a photo with the guest's face at `face`.

    Args:
        bgr: the image, BGR uint8.
        face: the guest's face in bgr's coordinates.
        valid: where bgr holds photo pixels (float32 0..1), to keep filled borders out of the statistics.
        roi: the face region the mask covers (default face_roi(face, grow=0)).
        mask: skin_mask over roi, if the caller already has it.
        small: a downscaled copy of bgr for the frame statistics, if the caller has one.
    """
    roi = roi or face_roi(face, bgr.shape, grow=0.0)
    x0, y0, x1, y1 = roi
    if mask is None:
        mask = skin_mask(bgr, face, roi)
    patch = bgr[y0:y1, x0:x1]
    weights = mask > 0.5
    if weights.sum() < 32:
        return LightCorrection((1.0, 1.0, 1.0), 1.0, float("nan"))
    lin = _TO_LINEAR[patch[weights]]  # N×3 linear BGR
    mean_lin = lin.mean(axis=0)
    lab = bgr_to_lab(_encode(mean_lin).reshape(1, 1, 3).astype(np.float32) * 255.0).reshape(3)
    hue = math.degrees(math.atan2(lab[2], lab[1])) % 360.0
    gains = np.ones(3)
    lo, hi = SKIN_HUE_BAND
    if not (lo <= hue <= hi) and math.hypot(lab[1], lab[2]) > 4.0:
        target_hue = math.radians(lo if _hue_distance(hue, lo) < _hue_distance(hue, hi) else hi)
        chroma = math.hypot(lab[1], lab[2])
        target_lab = np.array([lab[0], chroma * math.cos(target_hue), chroma * math.sin(target_hue)], np.float32)
        target_bgr = cv2.cvtColor(target_lab.reshape(1, 1, 3), cv2.COLOR_LAB2BGR).reshape(3)
        target_lin = _TO_LINEAR[np.clip(np.round(target_bgr * 255.0), 0, 255).astype(int)]
        gains = np.clip(target_lin / np.maximum(mean_lin, 1e-4), 0.75, 1.33)
        luma = np.array([0.0722, 0.7152, 0.2126])  # Rec.709 weights for B, G, R in linear light
        gains /= float((gains * mean_lin * luma).sum() / max(float((mean_lin * luma).sum()), 1e-6))
    # Exposure from the frame's highlights (the 99th percentile of luma), never from skin lightness.
    if small is None:
        small = downscale(bgr, (max(1, bgr.shape[1] // 4), max(1, bgr.shape[0] // 4)))
    luma8 = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    if valid is not None and valid.min() < 0.5:
        vsmall = cv2.resize(valid, (luma8.shape[1], luma8.shape[0]), interpolation=cv2.INTER_NEAREST) > 0.5
        luma8 = luma8[vsmall] if vsmall.any() else luma8
    p99 = float(np.percentile(luma8, 99))
    exposure = 1.0
    # Only a clearly underexposed frame (nothing in it near white) is brightened: a dark backdrop
    # with dark clothes and dark skin is a correct exposure, not a mistake to "fix".
    if p99 < UNDEREXPOSED_P99:
        exposure = min(1.8, (_TO_LINEAR[215] / max(_TO_LINEAR[max(int(p99), 1)], 1e-4)))
        face_peak = float(np.percentile(lin.max(axis=1), 97))
        exposure = min(exposure, 0.92 / max(face_peak, 1e-4))  # keep the face's highlights unclipped
        exposure = max(1.0, exposure)
    return LightCorrection(tuple(float(g) for g in gains), float(round(exposure, 4)), hue)  # type: ignore[arg-type]  # reason: 3 floats


def _hue_distance(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def apply(bgr: np.ndarray, corr: LightCorrection) -> np.ndarray:
    """Apply the gains through one 8-bit lookup table per channel (linear-light multiply)."""
    if corr.is_identity:
        return bgr
    luts = [
        np.clip(np.round(_encode(_TO_LINEAR * g * corr.exposure) * 255.0), 0, 255).astype(np.uint8)
        for g in corr.wb_gains
    ]
    lut = np.dstack(luts).reshape(256, 1, 3)
    return cv2.LUT(bgr, lut)
