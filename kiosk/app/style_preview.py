"""The style screen's preview of an AI style: the guest's own studio cut-out over the preset's backdrop colour.

A real generation for every AI card of every guest would take minutes on a CPU and seconds of a Jetson's GPU
per card, while the guest waits to choose. So the card shows a cheap stand-in, clearly labelled "Preview":
the cut-out the studio previews already make (the same matte, no model run), over a soft backdrop in the
colour the pack's preset names (`backdrop`, written into the pack by `build-pack` from the presets file).
The delivered picture is the model's; the preview only tells the styles apart.
"""

from __future__ import annotations

import cv2
import numpy as np

NEUTRAL_BACKDROP = "#8A9099"  # a preset without a `backdrop` colour (packs built before it existed)


def hex_bgr(colour: str) -> tuple[int, int, int]:
    """#RRGGBB -> (b, g, r) 0..255."""
    h = colour.lstrip("#")
    return int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16)


def backdrop(width: int, height: int, colour: str) -> np.ndarray:
    """A studio-like backdrop in `colour`: lighter behind the head, darker towards the edges (BGR uint8).

    Args:
        width: px.
        height: px.
        colour: #RRGGBB.
    """
    base = np.array(hex_bgr(colour), np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # A soft light pool centred a third down (behind the head), as a key light on a paper backdrop.
    r = np.hypot((xx - width / 2) / width, (yy - height / 3) / height)
    gain = 1.12 - 0.35 * np.clip(r, 0.0, 1.0)
    return np.clip(base[None, None, :] * gain[..., None], 0, 255).astype(np.uint8)


def ai_preview(foreground: np.ndarray, alpha: np.ndarray, colour: str | None) -> np.ndarray:
    """The guest's cut-out over the preset's backdrop (BGR uint8, the cut-out's size).

    Args:
        foreground: the studio pipeline's "transparent" headshot (un-mixed colours, BGR uint8).
        alpha: its matte, float 0..1, same size.
        colour: the preset's backdrop colour (#RRGGBB), or None for a neutral grey.
    """
    h, w = foreground.shape[:2]
    bg = backdrop(w, h, colour or NEUTRAL_BACKDROP).astype(np.float32)
    a = np.clip(alpha.astype(np.float32), 0.0, 1.0)[..., None]
    out = foreground.astype(np.float32) * a + bg * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def shrink(bgr: np.ndarray, max_side: int) -> np.ndarray:
    """Area-downscale so the longer side is max_side px (never enlarges)."""
    h, w = bgr.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s >= 1.0:
        return bgr
    return cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
