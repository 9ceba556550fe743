"""`kiosk models build-pack`: a published checkpoint in, a verified model pack out.

Steps: open the source (diffusers folder, Optimum ONNX export, or a hub id on a connected machine) → check
the family (scheduler, VAE scaling factor) → export or import the three graphs at the pack's static size
(plus the fp16 UNet) → encode the style presets with the checkpoint's own text encoder → write the
scheduler config, the embeddings and the manifest (sha256 of every file) into a staging folder → load it
back with the kiosk's own validator → rename into place. torch, diffusers and transformers are needed
here only (the `export` extra), never at run time.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from models.diffusion.build.families import FAMILIES, Family, detect_family
from models.diffusion.build.source import BuildError, Checkpoint, resolve
from models.diffusion.pack import FORMAT, MANIFEST, load_pack, write_stamp
from models.store import sha256_file


@dataclass
class BuildReport:
    """What build-pack made."""

    path: Path
    family: str
    model_id: str
    license: str
    size: tuple[int, int]
    variants: list[str]
    styles: list[str]
    files: int
    bytes: int
    timings_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**self.__dict__, "path": str(self.path), "size": list(self.size)}


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("headshot-kiosk", "torch", "diffusers", "transformers", "onnx", "onnxruntime"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _choose_family(ckpt: Checkpoint, family: str | None) -> Family:
    if family is not None:
        if family not in FAMILIES:
            raise BuildError(f"--family {family}: choose one of {', '.join(FAMILIES)}")
        return FAMILIES[family]
    found = detect_family(ckpt.scheduler_class, ckpt.scheduler_config)
    if found is None:
        raise BuildError(
            f"cannot tell the family from the checkpoint's scheduler ({ckpt.scheduler_class}): give --family "
            f"({', '.join(FAMILIES)}); an SD 1.5 model needs the LCM-LoRA fused in first (see the operator docs)"
        )
    return FAMILIES[found]


def _unet_config(ckpt: Checkpoint) -> dict[str, Any]:
    path = ckpt.root / "unet" / "config.json"
    if not path.is_file():
        raise BuildError(f"{ckpt.root}: no unet/config.json (needed for the UNet's cross-attention width)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _check_vae(ckpt: Checkpoint, fam: Family) -> tuple[float, int, int]:
    """(scaling factor, latent channels, pixels per latent cell) from the VAE config, checked."""
    cfg = ckpt.vae_config
    if "scaling_factor" not in cfg:
        raise BuildError(f"{ckpt.root}: the VAE config has no scaling_factor")
    scaling = float(cfg["scaling_factor"])
    if abs(scaling - fam.scaling_factor) > 1e-6:
        raise BuildError(f"the VAE's scaling_factor {scaling} is not {fam.scaling_factor}, the {fam.name} family's "
                         "(a different VAE or model family: check --family)")
    if cfg.get("shift_factor") not in (None, 0, 0.0):
        raise BuildError("the VAE has a shift_factor (an SD3/Flux-class VAE): not a supported family")
    blocks = cfg.get("block_out_channels") or [0, 0, 0, 0]
    return scaling, int(cfg.get("latent_channels", 4)), 2 ** (len(blocks) - 1)


def build_pack(
    source: str,
    out: Path,
    *,
    family: str | None = None,
    styles_file: Path | None = None,
    fp16: bool = False,
    resolution: tuple[int, int] | None = None,
    revision: str | None = None,
    license_id: str | None = None,
    force: bool = False,
    external_threshold: int | None = None,
) -> BuildReport:
    """Build a model pack from SOURCE into `out` (see the module docstring); BuildError says what to fix.

    Args:
        source: a checkpoint folder (diffusers or Optimum ONNX) or a hub id `org/name[@rev]`.
        out: the pack folder to create (refused when it exists, unless force).
        family: sd-turbo or sd15-lcm (default: detected from the checkpoint's scheduler).
        styles_file: presets TOML (default: models/diffusion/presets.toml).
        fp16: also export the fp16 UNet for GPUs.
        resolution: (width, height) px of generation (default: the family's, 4:5).
        revision: the source's revision to record (hub ids: resolved to a commit).
        license_id: the licence id when the model card does not state it.
        force: replace an existing pack at `out`.
        external_threshold: bytes of weights past which a graph keeps them in model.onnx_data.
    """
    from models.diffusion.build import graphs, styles

    t_all = time.monotonic()
    timings: dict[str, float] = {}
    out = Path(out)
    if out.exists() and not force:
        raise BuildError(f"{out} exists: choose another folder, or add --force to replace it")
    ckpt = resolve(source, revision)
    fam = _choose_family(ckpt, family)
    lic = license_id or ckpt.license_id
    if not lic:
        raise BuildError("the checkpoint's model card names no licence: give it with --license ID "
                         "(e.g. creativeml-openrail-m)")
    scaling, channels, vae_factor = _check_vae(ckpt, fam)
    unet_cfg = _unet_config(ckpt)
    width, height = resolution or fam.resolution
    # The UNet halves the latents once per block but the last: sides must divide by that many.
    align = vae_factor * 2 ** (len(unet_cfg.get("block_out_channels", [0] * 4)) - 1)
    if width % align or height % align or not 64 <= min(width, height) <= max(width, height) <= 2048:
        raise BuildError(f"--resolution {width}x{height}: each side must be a multiple of {align}, 64..2048 px")
    if fp16 and ckpt.layout == "optimum":
        raise BuildError("--fp16 with an Optimum export: export it with optimum's --dtype fp16 and build from that")
    presets = styles.read_presets(styles_file)
    from transformers import CLIPTokenizer

    tokens = int(CLIPTokenizer.from_pretrained(str(ckpt.root / "tokenizer")).model_max_length)
    dim = int(unet_cfg.get("cross_attention_dim", 0))
    shapes = graphs.GraphShapes(width, height, channels, vae_factor, tokens, dim)

    staging = out.with_name(f".{out.name}.build")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        t0 = time.monotonic()
        threshold = graphs.EXTERNAL_THRESHOLD if external_threshold is None else external_threshold
        if ckpt.layout == "diffusers":
            variants = graphs.export_diffusers(ckpt, staging, shapes, fp16, threshold)
            timestep_shape = [1]
        else:
            variants, timestep_shape = graphs.import_optimum(ckpt, staging, shapes)
        timings["graphs"] = time.monotonic() - t0

        t0 = time.monotonic()
        encoded = styles.encode_styles(ckpt, presets, fam.guidance_scale, dim)
        (staging / "styles").mkdir()
        style_entries: dict[str, Any] = {}
        for s in encoded:
            np.save(staging / "styles" / f"{s.name}.npy", s.embeddings)
            entry: dict[str, Any] = {"prompt": s.spec.prompt, "embeddings": f"styles/{s.name}.npy",
                                     "labels": s.spec.labels}
            if s.negative_embeddings is not None:
                np.save(staging / "styles" / f"{s.name}.negative.npy", s.negative_embeddings)
                entry.update(negative_prompt=s.negative_prompt, negative_embeddings=f"styles/{s.name}.negative.npy")
            entry.update({k: v for k in ("backdrop", "strength", "steps", "guidance_scale")
                          if (v := getattr(s.spec, k)) is not None})
            style_entries[s.name] = entry
        timings["styles"] = time.monotonic() - t0

        (staging / "scheduler").mkdir()
        sched = fam.scheduler_config(ckpt.scheduler_config)
        (staging / "scheduler" / "scheduler_config.json").write_text(json.dumps(sched, indent=2) + "\n")
        if (ckpt.root / "README.md").is_file():
            shutil.copyfile(ckpt.root / "README.md", staging / "MODEL_CARD.md")

        files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        manifest = {
            "format": FORMAT,
            "model_id": ckpt.root.name if Path(ckpt.source).is_absolute() else ckpt.source,
            "source": ckpt.source,
            "revision": ckpt.revision,
            "license": lic,
            "family": fam.name,
            "description": fam.description,
            "width": width,
            "height": height,
            "latent_channels": channels,
            "vae_scale_factor": vae_factor,
            "scaling_factor": scaling,
            "timestep_shape": timestep_shape,
            "text_embeddings": {"tokens": tokens, "dim": dim},
            "scheduler": {"name": fam.scheduler, "config": "scheduler/scheduler_config.json"},
            "defaults": {"steps": fam.steps, "strength": fam.strength, "guidance_scale": fam.guidance_scale},
            "graphs": variants,
            "styles": style_entries,
            "built_with": _versions(),
            "files": {f: sha256_file(staging / f) for f in files},
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        t0 = time.monotonic()
        pack = load_pack(staging, verify="full")  # the kiosk's own validator, every sha256
        timings["verify"] = time.monotonic() - t0
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
        write_stamp(out, pack.manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    total = sum((out / f).stat().st_size for f in files)
    timings["total"] = time.monotonic() - t_all
    return BuildReport(
        path=out, family=fam.name, model_id=str(manifest["model_id"]), license=lic, size=(width, height),
        variants=sorted(variants), styles=sorted(style_entries), files=len(files) + 1, bytes=total,
        timings_s={k: round(v, 2) for k, v in timings.items()},
    )


__all__ = ["BuildError", "BuildReport", "build_pack"]
