"""The scheduler interface and the beta schedules shared by every scheduler (pure numpy).

Arithmetic follows the reference library's float32 conventions (betas and cumulative alphas in float32,
sigma interpolation in float64 then cast) so that tests can compare values to 1e-6.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from models.diffusion.noise import NoiseSource
from models.errors import PackError

# Keys that appear in published scheduler_config.json files but that the reference library's Euler,
# Euler Ancestral and LCM schedulers ignore too (inherited from DDIM/PNDM configs).
INERT_KEYS = frozenset(
    {"skip_prk_steps", "set_alpha_to_one", "sample_max_value", "clip_sample_range", "clip_sample"}
)


class SchedulerConfigError(PackError):
    """A scheduler config names an unknown key or an unsupported value."""


def make_betas(
    num_train_timesteps: int, beta_start: float, beta_end: float, beta_schedule: str
) -> np.ndarray:
    """Training betas (float32) for 'linear', 'scaled_linear' or 'squaredcos_cap_v2'."""
    n = num_train_timesteps
    if beta_schedule == "linear":
        return np.linspace(beta_start, beta_end, n, dtype=np.float64).astype(np.float32)
    if beta_schedule == "scaled_linear":
        root = np.linspace(beta_start**0.5, beta_end**0.5, n, dtype=np.float64).astype(np.float32)
        return (root * root).astype(np.float32)
    if beta_schedule == "squaredcos_cap_v2":

        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = [min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999) for i in range(n)]
        return np.asarray(betas, dtype=np.float32)
    raise SchedulerConfigError(
        f"beta_schedule '{beta_schedule}' is not supported (use linear, scaled_linear or squaredcos_cap_v2)"
    )


def alphas_cumprod(betas: np.ndarray) -> np.ndarray:
    """Cumulative product of (1 - beta), float32 like the reference."""
    return np.cumprod((1.0 - betas).astype(np.float32), dtype=np.float32)


class Scheduler(ABC):
    """A diffusion sampler over numpy latents: timesteps, input scaling, one step, and img2img noising.

    Subclasses declare `name` (the registry key), `defaults` (every config key they honour, with the
    reference default) and `fixed` (keys accepted only at the value given, because other values are
    not implemented).
    """

    name: ClassVar[str]
    order: ClassVar[int] = 1
    defaults: ClassVar[Mapping[str, Any]]
    fixed: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, **config: Any) -> None:
        self.config = self._validate(config)
        c = self.config
        self.betas = make_betas(c["num_train_timesteps"], c["beta_start"], c["beta_end"], c["beta_schedule"])
        self.alphas_cumprod = alphas_cumprod(self.betas)
        self.timesteps = np.zeros(0, dtype=np.float32)
        self.num_inference_steps = 0
        self.begin_index = 0
        self.step_index = 0

    @classmethod
    def _validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(cls.defaults)
        for key, value in config.items():
            if key in cls.defaults:
                out[key] = value
                continue
            if key in cls.fixed:
                if value != cls.fixed[key] and value is not None:
                    raise SchedulerConfigError(
                        f"scheduler '{cls.name}': {key}={value!r} is not supported (only {cls.fixed[key]!r})"
                    )
                continue
            if not (key.startswith("_") or key in INERT_KEYS):
                raise SchedulerConfigError(f"scheduler '{cls.name}': unknown config key '{key}'")
        if out.get("prediction_type") not in ("epsilon", "v_prediction", "sample"):
            raise SchedulerConfigError(
                f"scheduler '{cls.name}': prediction_type {out.get('prediction_type')!r}"
            )
        return out

    @abstractmethod
    def set_timesteps(self, num_inference_steps: int) -> None:
        """Compute the inference schedule for `num_inference_steps` steps (resets the step index)."""

    def set_begin_index(self, begin_index: int) -> None:
        """Start stepping at `begin_index` of the schedule (img2img)."""
        self.begin_index = begin_index
        self.step_index = begin_index

    def img2img_timesteps(self, num_inference_steps: int, strength: float) -> tuple[np.ndarray, int]:
        """Set the schedule and start step for img2img, as the reference PyTorch img2img pipeline does.

        init_timestep = min(int(steps * strength), steps); t_start = max(steps - init_timestep, 0); the
        steps run are timesteps[t_start * order:]. Returns (timesteps to run, t_start).

        Args:
            num_inference_steps: steps of the full schedule (1..1000).
            strength: how much of the schedule to run, 0..1 (1 = start from pure noise).
        """
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be within 0..1, got {strength}")
        if num_inference_steps < 1:
            raise ValueError(f"steps must be at least 1, got {num_inference_steps}")
        self.set_timesteps(num_inference_steps)
        init_timestep = min(int(num_inference_steps * strength), num_inference_steps)
        t_start = max(num_inference_steps - init_timestep, 0)
        timesteps = self.timesteps[t_start * self.order :]
        if len(timesteps) == 0:
            raise ValueError(
                f"steps × strength = {num_inference_steps} × {strength} leaves no denoising step: "
                "raise the strength or the number of steps"
            )
        self.set_begin_index(t_start * self.order)
        return timesteps, t_start

    @property
    def init_noise_sigma(self) -> float:
        """Standard deviation of the initial noise (text-to-image)."""
        return 1.0

    def scale_model_input(self, sample: np.ndarray, timestep: float) -> np.ndarray:
        """Scale the latents before the denoiser sees them (identity unless a scheduler needs it)."""
        return sample

    @abstractmethod
    def step(
        self, model_output: np.ndarray, timestep: float, sample: np.ndarray, noise: NoiseSource
    ) -> np.ndarray:
        """One denoising step: the previous (less noisy) sample; advances the step index."""

    @abstractmethod
    def add_noise(self, original: np.ndarray, noise: np.ndarray, timestep: float) -> np.ndarray:
        """Noise clean latents to the level of the current start step (img2img)."""
