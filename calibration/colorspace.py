"""Colour arithmetic: sRGB transfer, linear sRGB <-> XYZ <-> CIELAB (D50), Bradford adaptation, ΔE2000.

Pure numpy, no OpenCV: every function takes and returns float arrays whose last axis holds the three
components, so a single colour, a patch list and a whole image go through the same code.
"""

from __future__ import annotations

import numpy as np

# CIE 1931 2° white points, XYZ with Y = 1 (from the xy chromaticities of CIE 15:2004).
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
WHITE_D50 = np.array([0.96422, 1.0, 0.82521])

# Linear sRGB (D65) -> XYZ, IEC 61966-2-1.
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)

# Bradford cone response matrix (Lam 1985), used by ICC for chromatic adaptation.
_BRADFORD = np.array(
    [
        [0.8951, 0.2664, -0.1614],
        [-0.7502, 1.7135, 0.0367],
        [0.0389, -0.0685, 1.0296],
    ]
)


def xy_to_xyz(x: float, y: float) -> np.ndarray:
    """XYZ (Y = 1) of a chromaticity (x, y)."""
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def bradford(src_white: np.ndarray, dst_white: np.ndarray) -> np.ndarray:
    """3×3 matrix adapting XYZ seen under src_white to the corresponding colour under dst_white."""
    src = _BRADFORD @ np.asarray(src_white, dtype=np.float64)
    dst = _BRADFORD @ np.asarray(dst_white, dtype=np.float64)
    return np.linalg.inv(_BRADFORD) @ np.diag(dst / src) @ _BRADFORD


D65_TO_D50 = bradford(WHITE_D65, WHITE_D50)
D50_TO_D65 = bradford(WHITE_D50, WHITE_D65)


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """Decode sRGB-encoded values (0..1) to linear light (IEC 61966-2-1 piecewise curve)."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((np.clip(v, 0.04045, None) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    """Encode linear light to sRGB (0..1); negative inputs map to 0, values over 1 stay over 1."""
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, None)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(np.maximum(v, 0.0031308), 1 / 2.4) - 0.055)


def xyz_to_lab(xyz: np.ndarray, white: np.ndarray = WHITE_D50) -> np.ndarray:
    """CIE 1976 L*a*b* of XYZ relative to a white (default D50, as the ColorChecker data are)."""
    t = np.asarray(xyz, dtype=np.float64) / white
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(t > eps, np.cbrt(t), (kappa * t + 16) / 116)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def lab_to_xyz(lab: np.ndarray, white: np.ndarray = WHITE_D50) -> np.ndarray:
    """XYZ of CIE L*a*b* relative to a white (default D50)."""
    lab = np.asarray(lab, dtype=np.float64)
    eps, kappa = 216 / 24389, 24389 / 27
    fy = (lab[..., 0] + 16) / 116
    fx = fy + lab[..., 1] / 500
    fz = fy - lab[..., 2] / 200
    f = np.stack([fx, fy, fz], axis=-1)
    t = np.where(f**3 > eps, f**3, (116 * f - 16) / kappa)
    # L* below 8 uses the linear segment for Y as well (CIE 15).
    t[..., 1] = np.where(lab[..., 0] > kappa * eps, fy**3, lab[..., 0] / kappa)
    return t * white


def linear_srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D50, Bradford-adapted from sRGB's D65) of linear sRGB values."""
    xyz65 = np.asarray(rgb, dtype=np.float64) @ SRGB_TO_XYZ.T
    return xyz_to_lab(xyz65 @ D65_TO_D50.T, WHITE_D50)


def lab_to_linear_srgb(lab: np.ndarray) -> np.ndarray:
    """Linear sRGB (may fall outside 0..1 for out-of-gamut colours) of CIELAB D50 values."""
    xyz50 = lab_to_xyz(lab, WHITE_D50)
    return (xyz50 @ D50_TO_D65.T) @ XYZ_TO_SRGB.T


def delta_e2000(
    lab1: np.ndarray, lab2: np.ndarray, kl: float = 1.0, kc: float = 1.0, kh: float = 1.0
) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005 formulation, including its hue-angle rules)."""
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]

    c1 = np.hypot(a1, b1)
    c2 = np.hypot(a2, b2)
    cbar7 = ((c1 + c2) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(cbar7 / (cbar7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    # atan2(0, 0) is defined as 0 here, which is the convention the paper uses.
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360

    dlp = l2 - l1
    dcp = c2p - c1p
    zero = (c1p * c2p) == 0
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(zero, 0.0, dh)
    dhp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)

    lbarp = (l1 + l2) / 2
    cbarp = (c1p + c2p) / 2
    hsum = h1p + h2p
    far = np.abs(h1p - h2p) > 180
    hbarp = np.where(far, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2), hsum / 2)
    hbarp = np.where(zero, hsum, hbarp)

    t = (
        1
        - 0.17 * np.cos(np.radians(hbarp - 30))
        + 0.24 * np.cos(np.radians(2 * hbarp))
        + 0.32 * np.cos(np.radians(3 * hbarp + 6))
        - 0.20 * np.cos(np.radians(4 * hbarp - 63))
    )
    dtheta = 30 * np.exp(-(((hbarp - 275) / 25) ** 2))
    cbarp7 = cbarp**7
    rc = 2 * np.sqrt(cbarp7 / (cbarp7 + 25.0**7))
    sl = 1 + 0.015 * (lbarp - 50) ** 2 / np.sqrt(20 + (lbarp - 50) ** 2)
    sc = 1 + 0.045 * cbarp
    sh = 1 + 0.015 * cbarp * t
    rt = -np.sin(np.radians(2 * dtheta)) * rc
    return np.sqrt(
        (dlp / (kl * sl)) ** 2
        + (dcp / (kc * sc)) ** 2
        + (dhp / (kh * sh)) ** 2
        + rt * (dcp / (kc * sc)) * (dhp / (kh * sh))
    )
