"""The X-Rite ColorChecker Classic (24 patches): reference colours and physical layout."""

from __future__ import annotations

import numpy as np

from calibration.colorspace import lab_to_linear_srgb

PATCH_NAMES: tuple[str, ...] = (
    "dark skin", "light skin", "blue sky", "foliage", "blue flower", "bluish green",
    "orange", "purplish blue", "moderate red", "purple", "yellow green", "orange yellow",
    "blue", "green", "red", "yellow", "magenta", "cyan",
    "white 9.5", "neutral 8", "neutral 6.5", "neutral 5", "neutral 3.5", "black 2",
)  # fmt: skip

# CIELAB (D50, 2° observer) of the ColorChecker Classic made after November 2014 (the new pigment
# formulation), from X-Rite's published data file for the chart, as tabulated by BabelColor and by
# colour-science (`CCS_COLORCHECKER24_AFTER_NOV2014`). Row-major, patch 1 (dark skin) first.
REFERENCE_LAB_D50 = np.array(
    [
        [37.54, 14.37, 14.92], [64.66, 19.27, 17.50], [49.32, -3.82, -22.54],
        [43.46, -12.74, 22.72], [54.94, 9.61, -24.79], [70.48, -32.26, -0.37],
        [62.73, 35.83, 56.50], [39.43, 10.75, -45.17], [50.57, 48.64, 16.67],
        [30.10, 22.54, -20.87], [71.77, -24.13, 58.19], [71.51, 18.24, 67.37],
        [28.37, 15.42, -49.80], [54.38, -39.72, 32.27], [42.43, 51.05, 28.62],
        [81.80, 2.67, 80.41], [50.63, 51.28, -14.12], [49.57, -29.71, -28.32],
        [95.19, -1.03, 2.93], [81.29, -0.57, 0.44], [66.89, -0.75, -0.06],
        [50.76, -0.13, 0.14], [35.63, -0.46, -0.48], [20.64, 0.07, -0.46],
    ]
)  # fmt: skip

# Linear sRGB (D65 display white) of each patch under a D50-adapted viewing: what a perfectly
# calibrated sRGB camera reports. Cyan falls just outside sRGB, hence a slightly negative red.
REFERENCE_LINEAR_SRGB = lab_to_linear_srgb(REFERENCE_LAB_D50)

ROWS, COLS = 4, 6
NEUTRAL = tuple(range(18, 24))
SKIN = (0, 1)

# Layout in mm, in the proportions of the ColorChecker Classic: 40 mm patches on a 47 mm pitch (7 mm
# black gaps) centred on a black card with a border of about one gap.
CARD_MM = (290.0, 206.0)
PATCH_MM = 40.0
PITCH_MM = 47.0


def patch_centers_mm() -> np.ndarray:
    """Centres of the 24 patches in card mm, row-major, (24, 2) as (x, y)."""
    x0 = CARD_MM[0] / 2 - PITCH_MM * (COLS - 1) / 2
    y0 = CARD_MM[1] / 2 - PITCH_MM * (ROWS - 1) / 2
    return np.array([[x0 + c * PITCH_MM, y0 + r * PITCH_MM] for r in range(ROWS) for c in range(COLS)])
