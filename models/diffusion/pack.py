"""Model packs: the standard ONNX export layout plus a manifest (ids, licence, shapes, sha256, style presets).

Layout (the usual ONNX export of a Stable Diffusion family model):

    manifest.json                    this module's schema (format "headshot-kiosk-pack/1")
    unet/model.onnx                  sample, timestep, encoder_hidden_states -> out_sample
    vae_encoder/model.onnx           sample -> latent_sample
    vae_decoder/model.onnx           latent_sample -> sample   (a TAESD-style decoder may stand in)
    scheduler/scheduler_config.json  the reference library's scheduler config
    styles/<name>.npy                precomputed prompt embeddings (1, tokens, dim), float32
    text_encoder/...                 optional; never loaded at run time

Every file the pack uses is listed in the manifest with its sha256, so a pack is verified before use.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.diffusion.schedulers import Scheduler, make_scheduler
from models.errors import PackError
from models.store import sha256_file

MANIFEST = "manifest.json"
FORMAT = "headshot-kiosk-pack/1"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")


def _rel_path(value: str) -> str:
    p = PurePosixPath(value)
    if not value or p.is_absolute() or ".." in p.parts or "\\" in value:
        raise ValueError(f"'{value}' must be a relative path inside the pack")
    return value


Component = Literal["unet", "vae_encoder", "vae_decoder"]


def _default_components() -> dict[Component, str]:
    return {
        "unet": "unet/model.onnx",
        "vae_encoder": "vae_encoder/model.onnx",
        "vae_decoder": "vae_decoder/model.onnx",
    }


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StylePreset(_Strict):
    """One style: its prompt (documentation only) and the precomputed embeddings."""

    prompt: str = Field(description="The prompt the embeddings were computed from (not used at run time).")
    embeddings: str = Field(description="Relative path of a (1, tokens, dim) float32 .npy file.")
    negative_embeddings: str | None = Field(
        None, description="Embeddings of the negative prompt (for guidance)."
    )
    guidance_scale: float | None = Field(None, ge=0.0, le=20.0, description="Overrides the pack default.")
    strength: float | None = Field(None, gt=0.0, le=1.0, description="Overrides the pack default, 0..1.")
    steps: int | None = Field(None, ge=1, le=100, description="Overrides the pack default.")

    @field_validator("embeddings", "negative_embeddings")
    @classmethod
    def _check_path(cls, v: str | None) -> str | None:
        return v if v is None else _rel_path(v)


class TextEmbeddings(_Strict):
    """Shape of the conditioning: (1, tokens, dim)."""

    tokens: int = Field(ge=1, le=1024, description="Sequence length, e.g. 77.")
    dim: int = Field(ge=1, le=8192, description="Embedding width (cross-attention dim), e.g. 1024.")


class SchedulerRef(_Strict):
    """Which numpy scheduler the pack uses and where its config lives."""

    name: Literal["euler", "euler_ancestral", "lcm"] = Field(description="Scheduler module.")
    config: str = Field(
        "scheduler/scheduler_config.json", description="Relative path of scheduler_config.json."
    )


class Defaults(_Strict):
    """Generation defaults."""

    steps: int = Field(ge=1, le=100, description="Schedule length.")
    strength: float = Field(gt=0.0, le=1.0, description="img2img strength, 0..1.")
    guidance_scale: float = Field(0.0, ge=0.0, le=20.0, description="Classifier-free guidance (≤ 1: off).")


class Manifest(_Strict):
    """manifest.json of a pack."""

    format: Literal["headshot-kiosk-pack/1"] = Field(description="Schema id.")
    model_id: str = Field(min_length=1, max_length=200, description="Where the weights come from.")
    license: str = Field(min_length=1, max_length=500, description="Licence of the weights.")
    family: str = Field(min_length=1, max_length=100, description="Architecture family, e.g. sd21-turbo.")
    description: str = Field("", max_length=2000, description="Free text.")
    resolution: int = Field(ge=64, le=2048, description="Square input/output size of the networks, px.")
    latent_channels: int = Field(4, ge=1, le=64, description="Channels of the latent space.")
    vae_scale_factor: Literal[1, 2, 4, 8, 16] = Field(8, description="Pixels per latent cell.")
    scaling_factor: float = Field(gt=0.0, le=10.0, description="Latent scaling factor (0.18215 for SD).")
    text_embeddings: TextEmbeddings
    scheduler: SchedulerRef
    defaults: Defaults
    components: dict[Component, str] = Field(
        default_factory=_default_components,
        description="ONNX graph of each network.",
    )
    styles: dict[str, StylePreset] = Field(min_length=1, description="Style presets by name.")
    files: dict[str, str] = Field(min_length=1, description="Every file of the pack and its sha256.")

    @field_validator("files")
    @classmethod
    def _check_files(cls, v: dict[str, str]) -> dict[str, str]:
        for path, digest in v.items():
            _rel_path(path)
            if not _SHA.match(digest):
                raise ValueError(f"files['{path}']: '{digest}' is not a lowercase hex sha256")
        return v

    @field_validator("styles")
    @classmethod
    def _check_styles(cls, v: dict[str, StylePreset]) -> dict[str, StylePreset]:
        for name in v:
            if not _NAME.match(name):
                raise ValueError(f"style name '{name}' must be lowercase letters, digits, '-' or '_'")
        return v


@dataclass(frozen=True)
class StyleInputs:
    """What the pipeline needs for one style."""

    name: str
    embeddings: np.ndarray
    negative: np.ndarray | None
    guidance_scale: float
    steps: int
    strength: float


@dataclass(frozen=True)
class Pack:
    """A validated pack on disk."""

    root: Path
    manifest: Manifest
    scheduler_config: dict[str, Any]

    @property
    def latent_size(self) -> int:
        """Latent height/width in cells."""
        return self.manifest.resolution // self.manifest.vae_scale_factor

    def component(self, name: Component) -> Path:
        """Path of a network's ONNX graph."""
        return self.root / self.manifest.components[name]

    def scheduler(self, name: str | None = None) -> Scheduler:
        """A fresh scheduler: the pack's own, or `name` with the pack's noise schedule."""
        return make_scheduler(name or self.manifest.scheduler.name, self.scheduler_config)

    def style(self, name: str) -> StyleInputs:
        """Load one style's embeddings and settings; PackError naming the choices when unknown."""
        m = self.manifest
        if name not in m.styles:
            raise PackError(
                f"style '{name}' is not in this pack (choose one of: {', '.join(sorted(m.styles))})"
            )
        s = m.styles[name]
        emb = self._embedding(s.embeddings)
        neg = self._embedding(s.negative_embeddings) if s.negative_embeddings else None
        guidance = m.defaults.guidance_scale if s.guidance_scale is None else s.guidance_scale
        if guidance > 1.0 and neg is None:
            raise PackError(f"style '{name}' sets guidance_scale {guidance} but has no negative_embeddings")
        return StyleInputs(
            name=name,
            embeddings=emb,
            negative=neg,
            guidance_scale=guidance,
            steps=s.steps or m.defaults.steps,
            strength=s.strength or m.defaults.strength,
        )

    def _embedding(self, rel: str) -> np.ndarray:
        te = self.manifest.text_embeddings
        try:
            arr = np.load(self.root / rel, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise PackError(f"{self.root / rel}: cannot read embeddings: {err}") from err
        if arr.shape != (1, te.tokens, te.dim) or arr.dtype not in (np.float32, np.float16):
            raise PackError(
                f"{self.root / rel}: embeddings must be float32 (1, {te.tokens}, {te.dim}), "
                f"got {arr.dtype} {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise PackError(f"{self.root / rel}: embeddings contain NaN or Inf")
        return arr.astype(np.float32)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for `kiosk models pack-info`."""
        m = self.manifest
        size = sum((self.root / f).stat().st_size for f in m.files)
        return {
            "path": str(self.root),
            "model_id": m.model_id,
            "license": m.license,
            "family": m.family,
            "description": m.description,
            "resolution": m.resolution,
            "latent": [m.latent_channels, self.latent_size, self.latent_size],
            "scaling_factor": m.scaling_factor,
            "scheduler": m.scheduler.name,
            "defaults": m.defaults.model_dump(),
            "styles": {k: v.prompt for k, v in m.styles.items()},
            "files": len(m.files),
            "bytes": size,
        }


def read_manifest(root: Path) -> Manifest:
    """Parse and validate manifest.json; PackError naming the first problem."""
    path = root / MANIFEST
    if not path.is_file():
        raise PackError(f"{root}: no {MANIFEST} (is this a model pack folder? see `kiosk models pull`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PackError(f"{path}: not readable JSON: {err}") from err
    try:
        return Manifest.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise PackError(f"{path}: {key}: {first['msg']}") from err


def load_pack(root: str | Path, *, verify: bool = True) -> Pack:
    """Validate a pack folder (layout, manifest, sha256 of every file when verify) and return it."""
    root = Path(root)
    if not root.is_dir():
        raise PackError(
            f"{root}: not a folder (give the pack folder, e.g. the --to folder of `kiosk models pull`)"
        )
    m = read_manifest(root)
    needed = [*m.components.values(), m.scheduler.config]
    for s in m.styles.values():
        needed += [p for p in (s.embeddings, s.negative_embeddings) if p]
    for rel in needed:
        if rel not in m.files:
            raise PackError(f"{root}: '{rel}' is used but not listed in manifest files (no sha256 to check)")
    if m.resolution % m.vae_scale_factor:
        raise PackError(
            f"{root}: resolution {m.resolution} is not a multiple of vae_scale_factor {m.vae_scale_factor}"
        )
    for rel, digest in m.files.items():
        path = root / rel
        if not path.is_file():
            raise PackError(f"{root}: missing file '{rel}' (re-run `kiosk models pull`)")
        if verify and sha256_file(path) != digest:
            raise PackError(
                f"{root}: '{rel}' does not match its sha256 (corrupt or modified; re-pull the pack)"
            )
    try:
        sched_cfg = json.loads((root / m.scheduler.config).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PackError(f"{root / m.scheduler.config}: not readable JSON: {err}") from err
    if not isinstance(sched_cfg, dict):
        raise PackError(f"{root / m.scheduler.config}: must be a JSON object")
    pack = Pack(root=root, manifest=m, scheduler_config=sched_cfg)
    pack.scheduler()  # raises SchedulerConfigError (a PackError) on an unsupported config
    for name in m.styles:
        pack.style(name)
    return pack
