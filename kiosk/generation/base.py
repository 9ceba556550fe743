"""The generator interface shared by the in-process generator and the supervised worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from kiosk.errors import KioskError, TransientError

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class GenerationFailed(TransientError):
    """A generation job failed (worker crash or hang, runtime error); the studio result is delivered."""


class GenerationUnavailable(KioskError):
    """Generation cannot run (no pack, crash loop, disabled); the studio result is delivered."""


class GenerationCancelledError(KioskError):
    """The caller cancelled the job."""


@dataclass
class Generated:
    """An img2img output (RGB float32 0..1 at the pack's size) and its stage times."""

    image: np.ndarray
    seed: int
    steps_run: int
    timings_ms: dict[str, float] = field(default_factory=dict)


class Generator(Protocol):
    """Runs (masked) image-to-image on an RGB image at the pack's size."""

    size: tuple[int, int]  # (width, height) of generation, px

    def generate(
        self,
        rgb: np.ndarray,
        style: str,
        *,
        mask: np.ndarray | None = None,
        seed: int,
        steps: int | None = None,
        strength: float | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> Generated:
        """Generate (mask: 1 where to regenerate); raise GenerationFailed / GenerationUnavailable / ...Cancelled."""
        ...

    def close(self) -> None:
        """Release the models (and the worker process)."""
        ...
