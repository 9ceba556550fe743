"""Stand-ins for diffusion models whose weights cannot exist here: a sound one and three broken ones.

Each takes the model's input (the guest on the studio-grey canvas at the model's size) and returns what a
model of that kind would: `Restyler` repaints the backdrop and leaves the person as drawn (a sound model
that only restyles the backdrop); `Drift` does the same with every colour shifted (a model whose colours
drift); `Noisy` adds grain (a broken decoder); `ExtraFace` draws a second person into the backdrop. The
backdrop is found by its own colour (the studio-grey gradient the pipeline drew), never by the pipeline's
mask, so the gate is judged on output it did not shape.
"""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.generation.base import Generated
from kiosk.pipeline import background


class Restyler:
    """A model that repaints the backdrop (a warm-blue studio gradient) and keeps the person."""

    def __init__(self, size: tuple[int, int] = (512, 640)) -> None:
        self.size = size
        self.calls: list[dict[str, object]] = []

    def _draw(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        grey = background.render_background("studio-grey", (w, h)).astype(np.int16)
        is_bg = np.abs(bgr.astype(np.int16) - grey).max(axis=2) < 6
        is_bg = cv2.morphologyEx(is_bg.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        new = np.dstack([110 + 60 * yy / h, 90 + 40 * xx / w, 60 + 30 * yy / h])
        a = cv2.GaussianBlur(is_bg.astype(np.float32), (0, 0), 1.0)[..., None]
        return a * new + (1 - a) * bgr.astype(np.float32)

    def _finish(self, out: np.ndarray) -> np.ndarray:
        out = cv2.GaussianBlur(np.clip(out, 0, 255), (0, 0), 0.6)  # a decoder's softness
        return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0

    def generate(self, rgb, style, *, mask=None, seed, steps=None, strength=None, progress=None, cancel=None):  # type: ignore[no-untyped-def]
        self.calls.append({"shape": rgb.shape, "mask": None if mask is None else mask.shape, "style": style})
        bgr = cv2.cvtColor((rgb * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
        if progress is not None:
            progress(1, 1)
        return Generated(self._finish(self.edit(self._draw(bgr))), seed, 1, {})

    def edit(self, out: np.ndarray) -> np.ndarray:
        """What this kind of model does on top of a sound restyle (nothing)."""
        return out

    def close(self) -> None:
        """Nothing to release."""


class Drift(Restyler):
    """Every colour shifted towards red."""

    def edit(self, out: np.ndarray) -> np.ndarray:
        return out + np.array([0, 0, 45], np.float32)


class Noisy(Restyler):
    """Grain all over (σ 25 levels before the decoder's softness)."""

    def edit(self, out: np.ndarray) -> np.ndarray:
        return out + np.random.default_rng(0).normal(0, 25, out.shape)


class ExtraFace(Restyler):
    """A second person drawn into the top-left of the backdrop."""

    def __init__(self, other: np.ndarray, size: tuple[int, int] = (512, 640)) -> None:
        super().__init__(size)
        self.other = other

    def edit(self, out: np.ndarray) -> np.ndarray:
        h, w = out.shape[:2]
        small = cv2.resize(self.other, (w // 3, h // 3), interpolation=cv2.INTER_AREA)
        out[h // 20: h // 20 + small.shape[0], 2: 2 + small.shape[1]] = small
        return out
