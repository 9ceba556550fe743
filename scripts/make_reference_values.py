"""Compute reference values with the reference library (diffusers + torch) for the numpy schedulers and
the img2img pipeline, and write them as test fixtures.

Run after scripts/build_tiny_pack.py, in the reference environment (see that script):

    /work/refvenv/bin/python scripts/make_reference_values.py

Writes tests/models/diffusion/reference/schedulers.json (timesteps, sigmas, add_noise and every step's
output for fixed inputs) and pipeline_<case>.npz (input image, every noise array diffusers drew, in
order, and diffusers' output image) for StableDiffusionImg2ImgPipeline on the tiny pack's torch weights.

One deliberate difference from a default diffusers run: the pack's vae_encoder exports the latent
distribution's mode (a deterministic graph), so the reference pipeline is run with
retrieve_latents(..., sample_mode="argmax"); everything else is diffusers' own code path.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    LCMScheduler,
    StableDiffusionImg2ImgPipeline,
    UNet2DConditionModel,
)
from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_img2img as img2img_mod
from diffusers.schedulers import scheduling_euler_ancestral_discrete as ea_mod
from diffusers.schedulers import scheduling_lcm as lcm_mod

ROOT = Path(__file__).resolve().parents[1]
SD_BETAS = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
}
SCHEDULER_CASES: list[dict[str, Any]] = [
    {
        "name": "euler",
        "config": {**SD_BETAS, "timestep_spacing": "trailing"},
        "runs": [(1, 1.0), (2, 0.5), (4, 0.5), (4, 0.75), (3, 0.6), (10, 0.35)],
    },
    {
        "name": "euler",
        "config": {**SD_BETAS, "timestep_spacing": "leading", "steps_offset": 1},
        "runs": [(4, 0.6), (20, 0.5)],
    },
    {"name": "euler", "config": {**SD_BETAS, "timestep_spacing": "linspace"}, "runs": [(5, 0.8)]},
    {
        "name": "euler",
        "config": {**SD_BETAS, "timestep_spacing": "trailing", "prediction_type": "v_prediction"},
        "runs": [(4, 0.5)],
    },
    {
        "name": "euler_ancestral",
        "config": {**SD_BETAS, "timestep_spacing": "trailing"},
        "runs": [(2, 0.5), (4, 0.75), (1, 1.0)],
    },
    {"name": "euler_ancestral", "config": {**SD_BETAS, "timestep_spacing": "linspace"}, "runs": [(6, 0.5)]},
    {"name": "lcm", "config": {**SD_BETAS}, "runs": [(4, 0.5), (4, 1.0), (2, 0.8), (8, 0.6), (1, 1.0)]},
    {
        "name": "lcm",
        "config": {**SD_BETAS, "original_inference_steps": 100, "timestep_scaling": 5.0},
        "runs": [(6, 0.7)],
    },
]
CLASSES = {
    "euler": EulerDiscreteScheduler,
    "euler_ancestral": EulerAncestralDiscreteScheduler,
    "lcm": LCMScheduler,
}
PIPELINE_CASES: list[dict[str, Any]] = [
    {"case": "euler_s2", "scheduler": "euler", "steps": 2, "strength": 0.5, "style": "studio", "seed": 1},
    {
        "case": "euler_cfg_s4",
        "scheduler": "euler",
        "steps": 4,
        "strength": 0.75,
        "style": "studio-cfg",
        "seed": 2,
    },
    {
        "case": "euler_ancestral_s3",
        "scheduler": "euler_ancestral",
        "steps": 3,
        "strength": 0.7,
        "style": "office",
        "seed": 3,
    },
    {"case": "lcm_s4", "scheduler": "lcm", "steps": 4, "strength": 0.6, "style": "outdoor", "seed": 4},
]

_drawn: list[np.ndarray] = []


def _recording(fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> torch.Tensor:
        out = fn(*args, **kwargs)
        _drawn.append(out.detach().cpu().numpy().astype(np.float32))
        return out

    return wrapper


for _mod in (ea_mod, lcm_mod, img2img_mod):
    _mod.randn_tensor = _recording(_mod.randn_tensor)


def get_timesteps(sched: Any, steps: int, strength: float) -> tuple[torch.Tensor, int]:
    """The reference img2img pipeline's start-step rule (StableDiffusionImg2ImgPipeline.get_timesteps)."""
    init_timestep = min(int(steps * strength), steps)
    t_start = max(steps - init_timestep, 0)
    timesteps = sched.timesteps[t_start * sched.order :]
    sched.set_begin_index(t_start * sched.order)
    return timesteps, t_start


def scheduler_values() -> list[dict[str, Any]]:
    out = []
    rng = np.random.default_rng(7)
    for case in SCHEDULER_CASES:
        for steps, strength in case["runs"]:
            sched = CLASSES[case["name"]](**case["config"])
            sched.set_timesteps(steps)
            timesteps, t_start = get_timesteps(sched, steps, strength)
            x0 = rng.standard_normal((1, 4, 4, 4)).astype(np.float32)
            noise = rng.standard_normal((1, 4, 4, 4)).astype(np.float32)
            sample = sched.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), timesteps[:1])
            rec: dict[str, Any] = {
                "scheduler": case["name"],
                "config": case["config"],
                "steps": steps,
                "strength": strength,
                "t_start": t_start,
                "timesteps": [float(t) for t in timesteps],
                "all_timesteps": [float(t) for t in sched.timesteps],
                "init_noise_sigma": float(sched.init_noise_sigma),
                "x0": x0.tolist(),
                "noise": noise.tolist(),
                "noisy": sample.numpy().tolist(),
                "steps_out": [],
            }
            if hasattr(sched, "sigmas"):
                rec["sigmas"] = [float(s) for s in sched.sigmas]
            gen = torch.Generator().manual_seed(11)
            for t in timesteps:
                scaled = sched.scale_model_input(sample, t)
                model_output = rng.standard_normal((1, 4, 4, 4)).astype(np.float32)
                _drawn.clear()
                kwargs = {"generator": gen} if case["name"] != "euler" else {}
                prev = sched.step(torch.from_numpy(model_output), t, sample, return_dict=False, **kwargs)[0]
                rec["steps_out"].append(
                    {
                        "t": float(t),
                        "scaled_input": scaled.numpy().tolist(),
                        "model_output": model_output.tolist(),
                        "step_noise": _drawn[0].tolist() if _drawn else None,
                        "prev_sample": prev.numpy().tolist(),
                    }
                )
                sample = prev
            out.append(rec)
    return out


def test_image(size: int) -> np.ndarray:
    """A smooth synthetic RGB picture in 0..1 (gradients and a disc), (1, H, W, 3) float32."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    disc = (((xx - 0.5) ** 2 + (yy - 0.45) ** 2) < 0.08).astype(np.float32)
    img = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0.3 * disc], axis=-1)
    return np.clip(img, 0, 1)[None].astype(np.float32)


def pipeline_values(pack: Path, torch_dir: Path, out_dir: Path) -> None:
    manifest = json.loads((pack / "manifest.json").read_text())
    sched_cfg = json.loads((pack / "scheduler" / "scheduler_config.json").read_text())
    unet = UNet2DConditionModel.from_pretrained(torch_dir / "unet").eval()
    vae = AutoencoderKL.from_pretrained(torch_dir / "vae").eval()
    original = img2img_mod.retrieve_latents
    img2img_mod.retrieve_latents = lambda enc, generator=None, sample_mode="sample": original(
        enc, generator, "argmax"
    )
    image = test_image(manifest["resolution"])
    for case in PIPELINE_CASES:
        cls = CLASSES[case["scheduler"]]
        cfg = {k: v for k, v in sched_cfg.items() if not k.startswith("_")}
        sched = cls.from_config(cfg) if case["scheduler"] != "lcm" else LCMScheduler(**SD_BETAS)
        pipe = StableDiffusionImg2ImgPipeline(
            vae=vae,
            text_encoder=None,
            tokenizer=None,
            unet=unet,
            scheduler=sched,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.set_progress_bar_config(disable=True)
        style = manifest["styles"][case["style"]]
        emb = torch.from_numpy(np.load(pack / style["embeddings"]))
        neg = style.get("negative_embeddings")
        guidance = float(style.get("guidance_scale", 0.0))
        _drawn.clear()
        with torch.no_grad():
            result = pipe(
                prompt_embeds=emb,
                negative_prompt_embeds=torch.from_numpy(np.load(pack / neg)) if neg else None,
                image=image,
                strength=case["strength"],
                num_inference_steps=case["steps"],
                guidance_scale=guidance,
                generator=torch.Generator().manual_seed(case["seed"]),
                output_type="np",
            )
        arrays = {"image": image[0], "output": result.images[0].astype(np.float32)}
        arrays.update({f"noise_{i}": n for i, n in enumerate(_drawn)})
        np.savez_compressed(out_dir / f"pipeline_{case['case']}.npz", **arrays)
        print(
            f"{case['case']}: {len(_drawn)} noise draws, output mean {arrays['output'].mean():.4f} "
            f"std {arrays['output'].std():.4f}"
        )
    img2img_mod.retrieve_latents = original
    (out_dir / "pipeline_cases.json").write_text(json.dumps(PIPELINE_CASES, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", type=Path, default=ROOT / "tests" / "fixtures" / "tiny_pack")
    ap.add_argument("--torch-dir", type=Path, default=ROOT / "build" / "tiny_pack_torch")
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "models" / "diffusion" / "reference")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    import diffusers

    values = {"diffusers": diffusers.__version__, "torch": torch.__version__, "cases": scheduler_values()}
    (args.out / "schedulers.json").write_text(json.dumps(values) + "\n")
    pipeline_values(args.pack, args.torch_dir, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
