"""Latent Consistency Model scheduler (Luo et al. 2023): consistency steps, boundary-condition scalings."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from models.diffusion.noise import NoiseSource
from models.diffusion.schedulers.base import Scheduler, SchedulerConfigError

_SIGMA_DATA = 0.5


class LCMScheduler(Scheduler):
    """Multi-step consistency sampling over a subset of the distillation schedule (integer timesteps)."""

    name: ClassVar[str] = "lcm"
    defaults: ClassVar[dict[str, Any]] = {
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "original_inference_steps": 50,
        "set_alpha_to_one": True,
        "steps_offset": 0,
        "prediction_type": "epsilon",
        "timestep_spacing": "leading",
        "timestep_scaling": 10.0,
    }
    fixed: ClassVar[dict[str, Any]] = {
        "clip_sample": False,
        "thresholding": False,
        "rescale_betas_zero_snr": False,
        "trained_betas": None,
        "dynamic_thresholding_ratio": 0.995,
    }

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        acp0 = self.alphas_cumprod[0]
        self.final_alpha_cumprod = np.float32(1.0) if self.config["set_alpha_to_one"] else acp0
        self.timesteps = np.zeros(0, dtype=np.int64)

    def set_timesteps(self, num_inference_steps: int, strength: float = 1.0) -> None:
        """Evenly spaced picks from the first `strength` of the distillation schedule (the reference's rule)."""
        c = self.config
        original = int(c["original_inference_steps"])
        if original > c["num_train_timesteps"]:
            raise SchedulerConfigError("scheduler 'lcm': original_inference_steps exceeds num_train_timesteps")
        if num_inference_steps > original:
            raise ValueError(f"steps ({num_inference_steps}) cannot exceed original_inference_steps ({original})")
        k = c["num_train_timesteps"] // original
        origin = (np.arange(1, int(original * strength) + 1) * k - 1)[::-1].copy()
        if len(origin) // num_inference_steps < 1:
            raise ValueError(
                f"steps × strength leaves too short a schedule: {len(origin)} distillation steps for "
                f"{num_inference_steps} steps (raise the strength or lower the steps)"
            )
        indices = np.floor(np.linspace(0, len(origin), num=num_inference_steps, endpoint=False)).astype(np.int64)
        self.num_inference_steps = num_inference_steps
        self.timesteps = origin[indices].astype(np.int64)
        self.begin_index = self.step_index = 0

    def img2img_timesteps(self, num_inference_steps: int, strength: float) -> tuple[np.ndarray, int]:
        """As LatentConsistencyModelImg2ImgPipeline: strength shortens the schedule, every step runs.

        4 steps at strength 0.5 (50 distillation steps) run timesteps 499, 379, 259, 139.
        """
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"strength must be within 0..1, got {strength}")
        if num_inference_steps < 1:
            raise ValueError(f"steps must be at least 1, got {num_inference_steps}")
        self.set_timesteps(num_inference_steps, strength)
        return self.timesteps, 0

    def _scalings(self, timestep: int) -> tuple[float, float]:
        scaled = timestep * self.config["timestep_scaling"]
        c_skip = _SIGMA_DATA**2 / (scaled**2 + _SIGMA_DATA**2)
        c_out = scaled / (scaled**2 + _SIGMA_DATA**2) ** 0.5
        return c_skip, c_out

    def step(
        self, model_output: np.ndarray, timestep: float, sample: np.ndarray, noise: NoiseSource
    ) -> np.ndarray:
        """Consistency step; re-noises to the next timestep except after the last one."""
        t = int(timestep)
        nxt = self.step_index + 1
        prev_t = int(self.timesteps[nxt]) if nxt < len(self.timesteps) else t
        acp_t = self.alphas_cumprod[t]
        acp_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else self.final_alpha_cumprod
        beta_t = np.float32(1) - acp_t
        beta_prev = np.float32(1) - acp_prev
        c_skip, c_out = self._scalings(t)
        kind = self.config["prediction_type"]
        if kind == "epsilon":
            x0 = (sample - np.sqrt(beta_t) * model_output) / np.sqrt(acp_t)
        elif kind == "sample":
            x0 = model_output
        else:
            x0 = np.sqrt(acp_t) * sample - np.sqrt(beta_t) * model_output
        denoised = (np.float32(c_out) * x0 + np.float32(c_skip) * sample).astype(np.float32)
        if self.step_index != self.num_inference_steps - 1:
            z = noise.draw(tuple(model_output.shape)).astype(np.float32)
            prev = np.sqrt(acp_prev) * denoised + np.sqrt(beta_prev) * z
        else:
            prev = denoised
        self.step_index += 1
        return prev.astype(np.float32)

    def add_noise(self, original: np.ndarray, noise: np.ndarray, timestep: float) -> np.ndarray:
        """DDPM forward process: sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) noise."""
        acp = self.alphas_cumprod[int(timestep)]
        return (np.sqrt(acp) * original + np.sqrt(np.float32(1) - acp) * noise).astype(original.dtype)
