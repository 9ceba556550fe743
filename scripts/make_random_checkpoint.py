"""Write a diffusers-format checkpoint with random weights: the tests' tiny fixture, or real-sized shapes.

    .venv/bin/python scripts/make_random_checkpoint.py --shape tiny --out tests/fixtures/tiny_diffusers
    .venv/bin/python scripts/make_random_checkpoint.py --shape sd-turbo --out build/random-sd-turbo

The folder is what `save_pretrained` writes for a Stable Diffusion pipeline (model_index.json, unet/, vae/,
text_encoder/, tokenizer/, scheduler/) plus a model card whose front matter names the licence, so
`kiosk models build-pack` treats it exactly like a published checkpoint. The tokenizer is made here: a
byte-level BPE vocabulary of single characters (no merges), which tokenizes any prompt; its ids mean
nothing, like the weights. `sd-turbo` has the real SD 2.1 / SD-Turbo architecture (~865 M UNet
parameters, 3.5 GB as fp32): only timings and engine builds mean anything with it. Needs the `export`
extra (torch, diffusers, transformers).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "models" / "diffusion" / "presets.toml"
SEED = 20261206
SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}

SHAPES: dict[str, dict[str, Any]] = {
    "tiny": {
        "unet": {
            "sample_size": 16,
            "layers_per_block": 1,
            "block_out_channels": (16, 32),
            "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
            "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
            "cross_attention_dim": 32,
            "attention_head_dim": 8,
            "norm_num_groups": 8,
        },
        "vae": {
            "block_out_channels": (8, 16, 16, 16),
            "layers_per_block": 1,
            "norm_num_groups": 8,
            "sample_size": 128,
        },
        "text": {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "projection_dim": 32},
        "license": "cc0-1.0",
    },
    # stabilityai/sd-turbo: unet/, vae/ and text_encoder/ config.json (SD 2.1 base architecture).
    "sd-turbo": {
        "unet": {
            "sample_size": 64,
            "layers_per_block": 2,
            "block_out_channels": (320, 640, 1280, 1280),
            "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            "cross_attention_dim": 1024,
            "attention_head_dim": (5, 10, 20, 20),
            "use_linear_projection": True,
            "norm_num_groups": 32,
        },
        "vae": {
            "block_out_channels": (128, 256, 512, 512),
            "layers_per_block": 2,
            "norm_num_groups": 32,
            "sample_size": 768,
        },
        "text": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 23,
                 "num_attention_heads": 16, "projection_dim": 512, "hidden_act": "gelu"},
        "license": "other",
        "license_name": "sai-nc-community",
    },
}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP's reversible byte → printable character map."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(keep, (chr(c) for c in chars), strict=True))


def _preset_words() -> list[str]:
    """Lower-case words of the default presets' prompts (so each is one token of the made-up vocabulary)."""
    data = tomllib.loads(PRESETS.read_text(encoding="utf-8"))
    texts = [data["defaults"]["negative_prompt"]] + [s["prompt"] for s in data["styles"].values()]
    return sorted({w for t in texts for w in re.findall(r"[a-z]+", t.lower())})


def make_tokenizer(out: Path) -> CLIPTokenizer:
    """A CLIP tokenizer made locally: single characters, plus merges that make each preset word one token."""
    out.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab_list = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    merges: list[str] = []
    for word in _preset_words():
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            merged = parts[0] + parts[1]
            if f"{parts[0]} {parts[1]}" not in merges:
                merges.append(f"{parts[0]} {parts[1]}")
                vocab_list.append(merged)
            parts = [merged, *parts[2:]]
    vocab_list = list(dict.fromkeys(vocab_list))
    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab_list)}), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    tok = CLIPTokenizer(str(out / "vocab.json"), str(out / "merges.txt"), model_max_length=77)
    (out / "vocab.json").unlink()
    (out / "merges.txt").unlink()
    return tok


def build(shape: str, out: Path) -> None:
    spec = SHAPES[shape]
    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(in_channels=4, out_channels=4, **spec["unet"]).eval()
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, scaling_factor=0.18215,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, **spec["vae"],
    ).eval()
    staging = out.with_name(out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer = make_tokenizer(staging / "tokenizer-src")
    text_cfg = CLIPTextConfig(vocab_size=len(tokenizer), max_position_embeddings=77, **spec["text"],
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)
    text_encoder = CLIPTextModel(text_cfg).eval()
    # SD-Turbo's own scheduler: Euler with trailing spacing.
    scheduler = EulerDiscreteScheduler(**SD_BETAS, prediction_type="epsilon", timestep_spacing="trailing",
                                       steps_offset=1)
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(staging, safe_serialization=True)
    shutil.rmtree(staging / "tokenizer-src")
    front = [f"license: {spec['license']}"]
    if "license_name" in spec:
        front.append(f"license_name: {spec['license_name']}")
    card = "---\n" + "\n".join(front) + "\ntags:\n- random-weights\n---\n\n"
    card += f"# Random-weight checkpoint ({shape} shapes)\n\n"
    card += f"Made by scripts/make_random_checkpoint.py with seed {SEED}; "
    card += "its weights and tokenizer ids are random, so its images are noise.\n"
    (staging / "README.md").write_text(card, encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 1e6:.1f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    build(args.shape, args.out)


if __name__ == "__main__":
    main()
