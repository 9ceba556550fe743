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
    """An img2img output (RGB float32 0..1 at the pack's resolution) and its stage times."""

    image: np.ndarray
    seed: int
    steps_run: int
    timings_ms: dict[str, float] = field(default_factory=dict)


class Generator(Protocol):
    """Runs img2img on a square RGB crop at the pack's resolution."""

    resolution: int

    def generate(
        self,
        rgb: np.ndarray,
        style: str,
        *,
        seed: int,
        steps: int | None = None,
        strength: float | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> Generated:
        """Generate; raise GenerationFailed / GenerationUnavailable / GenerationCancelledError."""
        ...

    def close(self) -> None:
        """Release the models (and the worker process)."""
        ...
