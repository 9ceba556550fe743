"""Build a pack with the real SD-Turbo (SD 2.1) architecture and random weights, to time real shapes.

Runs in the reference environment (see scripts/build_tiny_pack.py). The UNet is ~865 M parameters
(3.5 GB as fp32 ONNX, stored with external data), so this writes outside the repo (default
build/sdturbo_shaped_pack) and is never committed. The weights are random: the images are noise;
only the timing (and the engine builds on a GPU) mean anything.

    /work/refvenv/bin/python scripts/build_sdturbo_shaped_pack.py --resolution 512 [--taesd-decoder]
    .venv/bin/python -m bench.generate --pack build/sdturbo_shaped_pack --steps 1 --strength 1.0 --repeat 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel

ROOT = Path(__file__).resolve().parents[1]
# stabilityai/sd-turbo unet/config.json (SD 2.1 base architecture).
UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 1024,
    "attention_head_dim": (5, 10, 20, 20),
    "use_linear_projection": True,
    "norm_num_groups": 32,
}
VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 768,
    "scaling_factor": 0.18215,
}
SCHEDULER = {
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
    "clip_sample": False,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
}
TOKENS, DIM = 77, 1024


class Wrap(torch.nn.Module):
    """Holds the model as a submodule (so its weights export as initializers) and calls fn(model, *args)."""

    def __init__(self, model: torch.nn.Module, fn) -> None:
        super().__init__()
        self.model = model.requires_grad_(False)
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fn(self.model, *args)


def export(module: torch.nn.Module, args: tuple, names: list[str], out: str, path: Path) -> None:
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
    import onnx

    model = onnx.load(str(path))  # re-save with external data: the UNet is over protobuf's 2 GB limit
    for p in path.parent.iterdir():
        p.unlink()
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx_data")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "sdturbo_shaped_pack")
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--taesd-decoder", action="store_true", help="use a TAESD-style tiny decoder")
    args = ap.parse_args()
    r, lat = args.resolution, args.resolution // 8
    torch.manual_seed(0)
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    unet = UNet2DConditionModel(**UNET).eval()
    export(
        Wrap(unet, lambda m, s, t, e: m(s, t, encoder_hidden_states=e, return_dict=False)[0]),
        (torch.randn(1, 4, lat, lat), torch.tensor([999.0]), torch.randn(1, TOKENS, DIM)),
        ["sample", "timestep", "encoder_hidden_states"],
        "out_sample",
        out / "unet" / "model.onnx",
    )
    vae = AutoencoderKL(**VAE).eval()
    export(
        Wrap(vae, lambda m, x: m.encode(x).latent_dist.mode()),
        (torch.randn(1, 3, r, r),),
        ["sample"],
        "latent_sample",
        out / "vae_encoder" / "model.onnx",
    )
    if args.taesd_decoder:
        tiny = AutoencoderTiny().eval()
        # TAESD works on the UNet's (scaled) latents and diffusers' wrapper already returns -1..1; the
        # pack's decoder contract is SD's (latents / scaling_factor in), so scale back first.
        dec = Wrap(tiny, lambda m, z: m.decode(z * VAE["scaling_factor"], return_dict=False)[0])
    else:
        dec = Wrap(vae, lambda m, z: m.decode(z, return_dict=False)[0])
    export(dec, (torch.randn(1, 4, lat, lat),), ["latent_sample"], "sample", out / "vae_decoder" / "model.onnx")
    (out / "scheduler").mkdir()
    (out / "scheduler" / "scheduler_config.json").write_text(json.dumps(SCHEDULER, indent=2))
    (out / "styles").mkdir()
    emb = np.random.default_rng(0).standard_normal((1, TOKENS, DIM)).astype(np.float32)
    np.save(out / "styles" / "studio.npy", emb)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    manifest = {
        "format": "headshot-kiosk-pack/1",
        "model_id": "headshot-kiosk/sd-turbo-shaped-random",
        "license": "CC0-1.0 (random weights; the architecture is SD 2.1 / SD-Turbo's)",
        "family": "sd21-turbo",
        "description": "Real SD-Turbo shapes, random weights: for timing only.",
        "resolution": r,
        "scaling_factor": VAE["scaling_factor"],
        "text_embeddings": {"tokens": TOKENS, "dim": DIM},
        "scheduler": {"name": "euler", "config": "scheduler/scheduler_config.json"},
        "defaults": {"steps": 1, "strength": 1.0},
        "styles": {"studio": {"prompt": "(random embeddings)", "embeddings": "styles/studio.npy"}},
        "files": {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in files},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out} ({sum((out / f).stat().st_size for f in files) / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()
