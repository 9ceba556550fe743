"""Euler discrete scheduler (Karras et al. 2022, Alg. 2, no churn); trailing spacing as SD-Turbo uses."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from models.diffusion.noise import NoiseSource
from models.diffusion.schedulers.base import Scheduler, SchedulerConfigError

_COMMON: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "prediction_type": "epsilon",
    # The reference default; SD-Turbo packs set "trailing" in their scheduler_config.json.
    "timestep_spacing": "linspace",
    "steps_offset": 0,
}


def spaced_timesteps(spacing: str, num_train: int, steps: int, steps_offset: int) -> np.ndarray:
    """Inference timesteps (float32, descending) for 'linspace', 'leading' or 'trailing' spacing."""
    if spacing == "linspace":
        return np.linspace(0, num_train - 1, steps, dtype=np.float32)[::-1].copy()
    if spacing == "leading":
        int_ratio = num_train // steps
        ts = (np.arange(0, steps) * int_ratio).round()[::-1].copy().astype(np.float32)
        return ts + steps_offset
    if spacing == "trailing":
        ratio = num_train / steps
        return np.arange(num_train, 0, -ratio).round().copy().astype(np.float32) - 1
    raise SchedulerConfigError(
        f"timestep_spacing '{spacing}' is not supported (linspace, leading or trailing)"
    )


def interpolated_sigmas(alphas_cumprod: np.ndarray, timesteps: np.ndarray) -> np.ndarray:
    """Sigmas at the (possibly fractional) timesteps, linearly interpolated, with a final 0 (float32)."""
    train_sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
    sigmas = np.interp(timesteps, np.arange(0, len(train_sigmas)), train_sigmas)
    return np.concatenate([sigmas, [0.0]]).astype(np.float32)


def predicted_original(
    prediction_type: str, model_output: np.ndarray, sample: np.ndarray, sigma: float
) -> np.ndarray:
    """x0 predicted from the denoiser's output at noise level sigma."""
    if prediction_type == "epsilon":
        return sample - sigma * model_output
    if prediction_type == "v_prediction":
        return model_output * (-sigma / (sigma**2 + 1) ** 0.5) + sample / (sigma**2 + 1)
    return model_output


class SigmaScheduler(Scheduler):
    """What the Euler family shares: sigma = sqrt((1 - ᾱ) / ᾱ) and the matching input scaling."""

    sigmas: np.ndarray

    @property
    def init_noise_sigma(self) -> float:
        """Max sigma for linspace/trailing spacing, sqrt(max² + 1) otherwise (reference convention)."""
        top = float(self.sigmas.max())
        if self.config["timestep_spacing"] in ("linspace", "trailing"):
            return top
        return float((top**2 + 1) ** 0.5)

    def scale_model_input(self, sample: np.ndarray, timestep: float) -> np.ndarray:
        """Divide by sqrt(sigma² + 1) so the denoiser sees unit-variance input."""
        sigma = self.sigmas[self.step_index]
        return (sample / ((sigma**2 + 1) ** 0.5)).astype(np.float32)


class EulerScheduler(SigmaScheduler):
    """Deterministic Euler sampler over sigma = sqrt((1 - ᾱ) / ᾱ)."""

    name: ClassVar[str] = "euler"
    defaults: ClassVar[dict[str, Any]] = {
        **_COMMON,
        "interpolation_type": "linear",
        "final_sigmas_type": "zero",
    }
    fixed: ClassVar[dict[str, Any]] = {
        "use_karras_sigmas": False,
        "use_exponential_sigmas": False,
        "use_beta_sigmas": False,
        "rescale_betas_zero_snr": False,
        "timestep_type": "discrete",
        "trained_betas": None,
        "sigma_min": None,
        "sigma_max": None,
    }

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        if self.config["interpolation_type"] != "linear":
            raise SchedulerConfigError("scheduler 'euler': only interpolation_type 'linear' is supported")
        if self.config["final_sigmas_type"] not in ("zero", "sigma_min"):
            raise SchedulerConfigError("scheduler 'euler': final_sigmas_type must be 'zero' or 'sigma_min'")
        self.sigmas = np.zeros(1, dtype=np.float32)

    def set_timesteps(self, num_inference_steps: int) -> None:
        """Schedule with the configured spacing; sigmas end in 0 (or sigma_min)."""
        c = self.config
        self.num_inference_steps = num_inference_steps
        self.timesteps = spaced_timesteps(
            c["timestep_spacing"], c["num_train_timesteps"], num_inference_steps, c["steps_offset"]
        )
        sigmas = interpolated_sigmas(self.alphas_cumprod, self.timesteps)
        if c["final_sigmas_type"] == "sigma_min":
            acp0 = self.alphas_cumprod[0]
            sigmas[-1] = ((1 - acp0) / acp0) ** 0.5
        self.sigmas = sigmas
        self.begin_index = self.step_index = 0

    def step(
        self, model_output: np.ndarray, timestep: float, sample: np.ndarray, noise: NoiseSource
    ) -> np.ndarray:
        """x_{i+1} = x_i + (x_i - x0) / sigma_i * (sigma_{i+1} - sigma_i); draws no noise."""
        sample = sample.astype(np.float32)
        sigma = self.sigmas[self.step_index]
        x0 = predicted_original(self.config["prediction_type"], model_output, sample, sigma)
        derivative = (sample - x0) / sigma
        dt = self.sigmas[self.step_index + 1] - sigma
        self.step_index += 1
        return (sample + derivative * dt).astype(model_output.dtype)

    def add_noise(self, original: np.ndarray, noise: np.ndarray, timestep: float) -> np.ndarray:
        """X = x0 + sigma * noise at the begin index."""
        sigma = self.sigmas[self.step_index].astype(original.dtype)
        return original + noise * sigma
