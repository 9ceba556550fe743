"""Noise sources for the diffusion pipeline: seeded (reproducible) or replayed (parity with a reference)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class NoiseSource(Protocol):
    """Draws standard-normal float32 arrays, one call per draw, in the order the pipeline needs them."""

    def draw(self, shape: tuple[int, ...]) -> np.ndarray:
        """Return a float32 array of shape `shape` with N(0, 1) entries."""
        ...


class SeededNoise:
    """Standard-normal noise from numpy's PCG64 generator: the same seed gives the same images."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def draw(self, shape: tuple[int, ...]) -> np.ndarray:
        """Next array of N(0, 1) float32 samples."""
        return self._rng.standard_normal(shape, dtype=np.float32)


class ReplayNoise:
    """Replays recorded noise arrays in order (a reference run's draws); fails loudly on a mismatch."""

    def __init__(self, arrays: Sequence[np.ndarray]) -> None:
        self._arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
        self._next = 0

    def draw(self, shape: tuple[int, ...]) -> np.ndarray:
        """Next recorded array; ValueError when they run out or the shape differs."""
        if self._next >= len(self._arrays):
            raise ValueError(f"replay noise exhausted after {len(self._arrays)} draws")
        arr = self._arrays[self._next]
        if tuple(arr.shape) != tuple(shape):
            raise ValueError(
                f"replay noise draw {self._next} has shape {arr.shape}, the pipeline asked for {shape}"
            )
        self._next += 1
        return arr

    @property
    def remaining(self) -> int:
        """Recorded arrays not yet drawn."""
        return len(self._arrays) - self._next
