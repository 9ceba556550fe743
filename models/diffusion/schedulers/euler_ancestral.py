"""Euler ancestral scheduler: an Euler step to sigma_down plus fresh noise of size sigma_up."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from models.diffusion.noise import NoiseSource
from models.diffusion.schedulers.euler import (
    _COMMON,
    SigmaScheduler,
    interpolated_sigmas,
    predicted_original,
    spaced_timesteps,
)


class EulerAncestralScheduler(SigmaScheduler):
    """Stochastic Euler sampler; draws one noise array per step (the last one too, like the reference)."""

    name: ClassVar[str] = "euler_ancestral"
    defaults: ClassVar[dict[str, Any]] = dict(_COMMON)
    fixed: ClassVar[dict[str, Any]] = {"rescale_betas_zero_snr": False, "trained_betas": None}

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.sigmas = np.zeros(1, dtype=np.float32)

    def set_timesteps(self, num_inference_steps: int) -> None:
        """Schedule with the configured spacing; sigmas end in 0."""
        c = self.config
        self.num_inference_steps = num_inference_steps
        self.timesteps = spaced_timesteps(
            c["timestep_spacing"], c["num_train_timesteps"], num_inference_steps, c["steps_offset"]
        )
        self.sigmas = interpolated_sigmas(self.alphas_cumprod, self.timesteps)
        self.begin_index = self.step_index = 0

    def step(
        self, model_output: np.ndarray, timestep: float, sample: np.ndarray, noise: NoiseSource
    ) -> np.ndarray:
        """Euler step to sigma_down, then add noise × sigma_up."""
        sample = sample.astype(np.float32)
        sigma_from = self.sigmas[self.step_index]
        sigma_to = self.sigmas[self.step_index + 1]
        x0 = predicted_original(self.config["prediction_type"], model_output, sample, sigma_from)
        sigma_up = (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5
        sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
        derivative = (sample - x0) / sigma_from
        prev = sample + derivative * (sigma_down - sigma_from)
        prev = prev + noise.draw(tuple(model_output.shape)).astype(np.float32) * sigma_up
        self.step_index += 1
        return prev.astype(model_output.dtype)

    def add_noise(self, original: np.ndarray, noise: np.ndarray, timestep: float) -> np.ndarray:
        """X = x0 + sigma * noise at the begin index."""
        sigma = self.sigmas[self.step_index].astype(original.dtype)
        return original + noise * sigma
