"""The model families a pack can be built from: sampler, defaults and what is checked in the checkpoint.

- **sd-turbo**: SD 2.1 architecture distilled by adversarial diffusion distillation (stabilityai/sd-turbo),
  epsilon prediction, Euler with trailing spacing, 1–4 steps, no guidance, trained at 512 px.
- **sd15-lcm**: an SD 1.5-class checkpoint with the LCM-LoRA (latent-consistency/lcm-lora-sdv1-5) fused into
  its UNet, sampled by the LCM scheduler in 4 steps; its licence (CreativeML OpenRAIL-M for SD 1.5,
  OpenRAIL++ for the LoRA) allows commercial use, which SD-Turbo's does not.

One-step SDXS is not offered: its image-to-image mode is ControlNet-based (a sketch or pose goes in), not the
masked image-to-image that keeps the guest's own head, so it cannot regenerate only backdrop and clothes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SD_SCALING_FACTOR = 0.18215


@dataclass(frozen=True)
class Family:
    """How packs of one model family are sampled, and their defaults."""

    name: str
    description: str
    scheduler: str  # numpy scheduler of models.diffusion.schedulers
    steps: int
    strength: float
    guidance_scale: float
    resolution: tuple[int, int]  # default (width, height), px: 4:5, the portrait cell's aspect
    scaling_factor: float
    source_schedulers: tuple[str, ...]  # scheduler classes a checkpoint of this family ships with

    def scheduler_config(self, source: dict[str, Any]) -> dict[str, Any]:
        """The pack's scheduler_config.json, from the checkpoint's own (its noise schedule is kept)."""
        betas: dict[str, Any] = {k: source[k] for k in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule")
                 if k in source}
        prediction = source.get("prediction_type", "epsilon")
        if self.scheduler == "euler":
            return {
                "_class_name": "EulerDiscreteScheduler",
                **betas,
                "prediction_type": prediction,
                "timestep_spacing": "trailing",
                "steps_offset": int(source.get("steps_offset", 1)),
                "interpolation_type": "linear",
                "use_karras_sigmas": False,
                "final_sigmas_type": "zero",
            }
        return {
            "_class_name": "LCMScheduler",
            **betas,
            "prediction_type": prediction,
            "original_inference_steps": 50,
            "timestep_scaling": 10.0,
            "set_alpha_to_one": True,
            "steps_offset": int(source.get("steps_offset", 0)),
            "timestep_spacing": "leading",
        }


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            name="sd-turbo",
            description="SD-Turbo (SD 2.1, adversarial diffusion distillation), Euler trailing",
            scheduler="euler",
            steps=4,
            strength=0.75,
            guidance_scale=0.0,
            resolution=(512, 640),
            scaling_factor=SD_SCALING_FACTOR,
            source_schedulers=("EulerDiscreteScheduler",),
        ),
        Family(
            name="sd15-lcm",
            description="SD 1.5-class model with LCM-LoRA fused, LCM scheduler",
            scheduler="lcm",
            steps=4,
            strength=0.75,
            guidance_scale=1.0,
            resolution=(512, 640),
            scaling_factor=SD_SCALING_FACTOR,
            source_schedulers=("LCMScheduler",),
        ),
    )
}


def detect_family(scheduler_class: str | None, scheduler_config: dict[str, Any]) -> str | None:
    """The family a checkpoint's own scheduler points at, or None when it cannot tell."""
    if scheduler_class == "LCMScheduler":
        return "sd15-lcm"
    if scheduler_class == "EulerDiscreteScheduler" and scheduler_config.get("timestep_spacing") == "trailing":
        return "sd-turbo"
    return None
