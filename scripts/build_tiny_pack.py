"""Build the tiny diffusion pack used by the tests (reference library, random weights, ONNX export).

Runs in a separate environment that has the reference library (the `reference` extra), never in the
kiosk's own venv:

    python3 -m venv /work/refvenv && /work/refvenv/bin/pip install torch==2.13.0 diffusers transformers onnx
    /work/refvenv/bin/python scripts/build_tiny_pack.py            # -> tests/fixtures/tiny_pack
    /work/refvenv/bin/python scripts/make_reference_values.py      # -> tests/models/diffusion/reference

The models are diffusers' own UNet2DConditionModel and AutoencoderKL with tiny configs and seeded random
weights, exported with the production input/output names (unet: sample, timestep,
encoder_hidden_states -> out_sample; vae_encoder: sample -> latent_sample; vae_decoder: latent_sample ->
sample) and static shapes (batch 1). The style presets' prompt embeddings are seeded random arrays of
the right shape (1, 77, cross_attention_dim): this pack has no text encoder and its "prompts" mean
nothing. The torch weights are saved beside it (outside the repo) for make_reference_values.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

ROOT = Path(__file__).resolve().parents[1]
RESOLUTION = 128
TOKENS = 77
CROSS_DIM = 32
SCALING = 0.18215
SEED = 20261130

UNET_CONFIG = {
    "sample_size": RESOLUTION // 8,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 1,
    "block_out_channels": (16, 32),
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": CROSS_DIM,
    "attention_head_dim": 8,
    "norm_num_groups": 8,
}
VAE_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (8, 16, 16, 16),
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 8,
    "sample_size": RESOLUTION,
    "scaling_factor": SCALING,
}
# SD-Turbo's scheduler: Euler with trailing spacing.
SCHEDULER_CONFIG = {
    "_class_name": "EulerDiscreteScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "trailing",
    "steps_offset": 1,
    "interpolation_type": "linear",
    "use_karras_sigmas": False,
    "final_sigmas_type": "zero",
}
STYLES = {
    "studio": "professional studio headshot, soft key light, grey seamless backdrop",
    "office": "corporate headshot, blurred modern office background, natural window light",
    "outdoor": "outdoor portrait, golden hour, soft green bokeh",
}


class UnetExport(torch.nn.Module):
    def __init__(self, unet: UNet2DConditionModel) -> None:
        super().__init__()
        self.unet = unet

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor
    ) -> torch.Tensor:
        return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=False)[0]


class VaeEncoderExport(torch.nn.Module):
    """Encoder returning the latent distribution's mode (deterministic; see make_reference_values.py)."""

    def __init__(self, vae: AutoencoderKL) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(sample).latent_dist.mode()


class VaeDecoderExport(torch.nn.Module):
    def __init__(self, vae: AutoencoderKL) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latent_sample, return_dict=False)[0]


def build_models() -> tuple[UNet2DConditionModel, AutoencoderKL]:
    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(**UNET_CONFIG).eval()
    vae = AutoencoderKL(**VAE_CONFIG).eval()
    return unet, vae


def export(
    module: torch.nn.Module, args: tuple[torch.Tensor, ...], names: list[str], out: str, path: Path
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=names,
            output_names=[out],
            opset_version=17,
            dynamo=False,
            do_constant_folding=True,
        )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "tiny_pack")
    ap.add_argument("--torch-out", type=Path, default=ROOT / "build" / "tiny_pack_torch")
    args = ap.parse_args()
    unet, vae = build_models()
    if args.out.exists():
        shutil.rmtree(args.out)
    out: Path = args.out
    lat = RESOLUTION // 8
    export(
        UnetExport(unet),
        (torch.randn(1, 4, lat, lat), torch.tensor([999.0]), torch.randn(1, TOKENS, CROSS_DIM)),
        ["sample", "timestep", "encoder_hidden_states"],
        "out_sample",
        out / "unet" / "model.onnx",
    )
    export(
        VaeEncoderExport(vae),
        (torch.randn(1, 3, RESOLUTION, RESOLUTION),),
        ["sample"],
        "latent_sample",
        out / "vae_encoder" / "model.onnx",
    )
    export(
        VaeDecoderExport(vae),
        (torch.randn(1, 4, lat, lat),),
        ["latent_sample"],
        "sample",
        out / "vae_decoder" / "model.onnx",
    )
    (out / "scheduler").mkdir(parents=True)
    (out / "scheduler" / "scheduler_config.json").write_text(json.dumps(SCHEDULER_CONFIG, indent=2) + "\n")
    rng = np.random.default_rng(SEED)
    styles = {}
    (out / "styles").mkdir()
    for name, prompt in STYLES.items():
        emb = rng.standard_normal((1, TOKENS, CROSS_DIM)).astype(np.float32)
        np.save(out / "styles" / f"{name}.npy", emb)
        styles[name] = {"prompt": prompt, "embeddings": f"styles/{name}.npy"}
    neg = rng.standard_normal((1, TOKENS, CROSS_DIM)).astype(np.float32)
    np.save(out / "styles" / "negative.npy", neg)
    styles["studio-cfg"] = {
        "prompt": STYLES["studio"],
        "embeddings": "styles/studio.npy",
        "negative_embeddings": "styles/negative.npy",
        "guidance_scale": 2.0,
    }
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    manifest = {
        "format": "headshot-kiosk-pack/1",
        "model_id": "headshot-kiosk/tiny-random-sd",
        "license": "CC0-1.0 (random weights, generated by scripts/build_tiny_pack.py)",
        "family": "sd-tiny-random",
        "description": (
            "Test pack: diffusers model classes with tiny configs and random weights; "
            "random style embeddings."
        ),
        "resolution": RESOLUTION,
        "latent_channels": 4,
        "vae_scale_factor": 8,
        "scaling_factor": SCALING,
        "text_embeddings": {"tokens": TOKENS, "dim": CROSS_DIM},
        "scheduler": {"name": "euler", "config": "scheduler/scheduler_config.json"},
        "defaults": {"steps": 2, "strength": 0.5, "guidance_scale": 0.0},
        "styles": styles,
        "files": {f: sha256(out / f) for f in files},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    args.torch_out.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(args.torch_out / "unet")
    vae.save_pretrained(args.torch_out / "vae")
    total = sum((out / f).stat().st_size for f in files)
    print(f"wrote {out} ({total / 1e6:.2f} MB) and torch weights to {args.torch_out}")


if __name__ == "__main__":
    main()
