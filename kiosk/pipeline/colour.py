"""Colour helpers of the pipeline: sRGB → CIELAB (D65), CIEDE2000, Individual Typology Angle."""

from __future__ import annotations

import cv2
import numpy as np

# One CIEDE2000 for the whole product, verified against all 34 pairs of Sharma et al. (2005).
from calibration.colorspace import delta_e2000

__all__ = ["bgr_to_lab", "delta_e2000", "ita_degrees", "ita_group", "mean_lab"]


def bgr_to_lab(bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (any shape ending in 3) to float32 CIELAB: L 0..100, a/b about -128..127."""
    arr = np.asarray(bgr, dtype=np.float32).reshape(-1, 1, 3) / 255.0
    return cv2.cvtColor(arr, cv2.COLOR_BGR2LAB).reshape(np.shape(bgr)).astype(np.float32)


def mean_lab(bgr: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean CIELAB colour of the pixels where mask > 0.5 (all pixels without a mask)."""
    pixels = bgr.reshape(-1, 3) if mask is None else bgr[mask > 0.5]
    if pixels.size == 0:
        raise ValueError("empty region")
    return bgr_to_lab(pixels.reshape(-1, 1, 3)).reshape(-1, 3).mean(axis=0)


def ita_degrees(lab: np.ndarray) -> float:
    """Individual Typology Angle of a mean skin colour: arctan((L* − 50) / b*) in degrees."""
    lightness, b = float(lab[0]), float(lab[2])
    return float(np.degrees(np.arctan2(lightness - 50.0, b)))


def ita_group(ita: float) -> str:
    """Skin-tone group from ITA° (Chardon et al. 1991 bands)."""
    if ita > 55:
        return "very-light"
    if ita > 41:
        return "light"
    if ita > 28:
        return "intermediate"
    if ita > 10:
        return "tan"
    if ita > -30:
        return "brown"
    return "dark"
