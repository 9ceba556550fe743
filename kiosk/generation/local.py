"""In-process generator: the pack loaded into this process (for `kiosk generate` and benchmarks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kiosk.generation.base import CancelFn, Generated, GenerationCancelledError, GenerationFailed, ProgressFn
from models.diffusion.pack import load_pack
from models.diffusion.pipeline import GenerationCancelled, Img2ImgPipeline
from models.errors import ModelError
from models.runtime import make_runtime
from models.runtime.base import OrtConfig, TensorRTConfig


class LocalGenerator:
    """Loads the pack once (static shapes, warmed up) and runs jobs in the calling thread."""

    def __init__(self, pack_dir: Path, runtime: OrtConfig | TensorRTConfig, warm_up: bool = True) -> None:
        self.pack = load_pack(pack_dir)
        self.runtime = make_runtime(runtime, engine_dir=self.pack.root / "engines")
        self.pipeline = Img2ImgPipeline(self.pack, self.runtime)
        self.size = self.pack.size
        if warm_up:
            self.pipeline.warm_up(self.pack.style(next(iter(self.pack.manifest.styles))))

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
        """Run one img2img job."""
        style_inputs = self.pack.style(style)
        try:
            res = self.pipeline(rgb, style_inputs, mask=mask, steps=steps, strength=strength, seed=seed,
                                progress=progress, cancel=cancel)
        except GenerationCancelled as err:
            raise GenerationCancelledError(str(err)) from err
        except (ModelError, ValueError) as err:
            raise GenerationFailed(f"generation failed: {err}") from err
        return Generated(res.image, seed, res.steps_run, res.timings_ms)

    def close(self) -> None:
        """Nothing to release beyond garbage collection."""
