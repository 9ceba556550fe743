"""Model packs: ONNX graphs at one static size, style embeddings and a manifest, made by `build-pack`.

Layout:

    manifest.json                    this module's schema (format "headshot-kiosk-pack/2")
    unet/model.onnx [+ model.onnx_data]   sample, timestep, encoder_hidden_states -> out_sample
    unet_fp16/model.onnx             the same UNet in half precision (optional, for GPUs)
    vae_encoder/model.onnx           sample -> latent_sample (or 2C moments, whose mean is used)
    vae_decoder/model.onnx           latent_sample -> sample
    scheduler/scheduler_config.json  the reference library's scheduler config
    styles/<name>.npy                prompt embeddings (1, tokens, dim), float32
    MODEL_CARD.md                    the source's model card (licence text), when it had one

Every file is listed in the manifest with its sha256. A full check hashes them all (`kiosk models verify`,
`pack-info`); starting the kiosk compares a stamp of each file's size and modification time written after
the last full check, so a start never re-hashes gigabytes.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.diffusion.licence import verdict
from models.diffusion.schedulers import Scheduler, make_scheduler
from models.errors import PackError
from models.store import atomic_write_bytes, sha256_file

MANIFEST = "manifest.json"
STAMP = ".verified.json"
FORMAT = "headshot-kiosk-pack/2"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
Component = Literal["unet", "vae_encoder", "vae_decoder"]
Precision = Literal["fp32", "fp16"]
COMPONENTS: tuple[Component, ...] = ("unet", "vae_encoder", "vae_decoder")
Verify = Literal["full", "stamp", "none"]


def _rel_path(value: str) -> str:
    p = PurePosixPath(value)
    if not value or p.is_absolute() or ".." in p.parts or "\\" in value:
        raise ValueError(f"'{value}' must be a relative path inside the pack")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StylePreset(_Strict):
    """One style: its prompt, the precomputed embeddings and the guest-facing labels."""

    prompt: str = Field(description="The prompt the embeddings were computed from (not used at run time).")
    embeddings: str = Field(description="Relative path of a (1, tokens, dim) float32 .npy file.")
    negative_prompt: str | None = Field(None, description="The negative prompt (for guidance).")
    negative_embeddings: str | None = Field(None, description="Embeddings of the negative prompt.")
    labels: dict[str, str] = Field(default_factory=dict, description="Name on the style screen per language.")
    backdrop: str | None = Field(None, pattern=r"^#[0-9A-Fa-f]{6}$",
                                 description="The backdrop's main colour (#RRGGBB): the style screen's preview.")
    guidance_scale: float | None = Field(None, ge=0.0, le=20.0, description="Overrides the pack default.")
    strength: float | None = Field(None, gt=0.0, le=1.0, description="Overrides the pack default, 0..1.")
    steps: int | None = Field(None, ge=1, le=100, description="Overrides the pack default.")

    @field_validator("embeddings", "negative_embeddings")
    @classmethod
    def _check_path(cls, v: str | None) -> str | None:
        return v if v is None else _rel_path(v)

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, v: dict[str, str]) -> dict[str, str]:
        for lang, text in v.items():
            if not re.fullmatch(r"[a-z]{2}", lang) or not 0 < len(text) <= 40:
                raise ValueError(f"label {lang!r}: {text!r} (a two-letter language and 1..40 characters)")
        return v


class TextEmbeddings(_Strict):
    """Shape of the conditioning: (1, tokens, dim)."""

    tokens: int = Field(ge=1, le=1024, description="Sequence length, e.g. 77.")
    dim: int = Field(ge=1, le=8192, description="Embedding width (cross-attention dim), e.g. 1024.")


class SchedulerRef(_Strict):
    """Which numpy scheduler the pack uses and where its config lives."""

    name: Literal["euler", "euler_ancestral", "lcm"] = Field(description="Scheduler module.")
    config: str = Field("scheduler/scheduler_config.json", description="Relative path of scheduler_config.json.")


class Defaults(_Strict):
    """Generation defaults."""

    steps: int = Field(ge=1, le=100, description="Schedule length.")
    strength: float = Field(gt=0.0, le=1.0, description="img2img strength, 0..1.")
    guidance_scale: float = Field(0.0, ge=0.0, le=20.0, description="Classifier-free guidance (≤ 1: off).")


class Manifest(_Strict):
    """manifest.json of a pack."""

    format: Literal["headshot-kiosk-pack/2"] = Field(description="Schema id.")
    model_id: str = Field(min_length=1, max_length=200, description="The checkpoint's name (hub id or folder).")
    source: str = Field(min_length=1, max_length=1000, description="Where build-pack read it from.")
    revision: str | None = Field(None, max_length=200, description="The source's revision (hub commit).")
    license: str = Field(min_length=1, max_length=200, description="Licence id of the weights.")
    family: str = Field(min_length=1, max_length=100, description="Model family, e.g. sd-turbo.")
    description: str = Field("", max_length=2000, description="Free text.")
    width: int = Field(ge=64, le=2048, description="Width of generation, px.")
    height: int = Field(ge=64, le=2048, description="Height of generation, px.")
    latent_channels: int = Field(4, ge=1, le=64, description="Channels of the latent space.")
    vae_scale_factor: Literal[1, 2, 4, 8, 16] = Field(8, description="Pixels per latent cell.")
    scaling_factor: float = Field(gt=0.0, le=10.0, description="Latent scaling factor (0.18215 for SD).")
    timestep_shape: list[int] = Field(default_factory=lambda: [1], description="[] (rank 0) or [1].")
    text_embeddings: TextEmbeddings
    scheduler: SchedulerRef
    defaults: Defaults
    graphs: dict[Precision, dict[Component, str]] = Field(min_length=1, description="Graphs per precision.")
    styles: dict[str, StylePreset] = Field(min_length=1, description="Style presets by name.")
    built_with: dict[str, str] = Field(default_factory=dict, description="Tool versions of the build.")
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

    @field_validator("timestep_shape")
    @classmethod
    def _check_timestep(cls, v: list[int]) -> list[int]:
        if v not in ([], [1]):
            raise ValueError("timestep_shape must be [] or [1]")
        return v

    @model_validator(mode="after")
    def _check_graphs(self) -> Manifest:
        for precision, comps in self.graphs.items():
            missing = set(COMPONENTS) - set(comps)
            if missing:
                raise ValueError(f"graphs.{precision} lacks {sorted(missing)}")
            for rel in comps.values():
                _rel_path(rel)
        if self.width % self.vae_scale_factor or self.height % self.vae_scale_factor:
            raise ValueError(f"width and height must be multiples of vae_scale_factor {self.vae_scale_factor}")
        return self


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
    def size(self) -> tuple[int, int]:
        """(width, height) of generation, px."""
        return self.manifest.width, self.manifest.height

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        """(1, C, h, w) of the latents."""
        m = self.manifest
        f = m.vae_scale_factor
        return (1, m.latent_channels, m.height // f, m.width // f)

    def precision(self, prefer_fp16: bool) -> Precision:
        """The graphs to load: fp16 when preferred and present, else fp32 (or the only one there is)."""
        have = self.manifest.graphs
        if prefer_fp16 and "fp16" in have:
            return "fp16"
        return "fp32" if "fp32" in have else "fp16"

    def graph(self, component: Component, precision: Precision = "fp32") -> Path:
        """Path of a network's ONNX graph in one precision."""
        return self.root / self.manifest.graphs[precision][component]

    def graph_digests(self, component: Component, precision: Precision = "fp32") -> dict[str, str]:
        """sha256 of every file of a graph (model.onnx and its external data), from the manifest."""
        folder = PurePosixPath(self.manifest.graphs[precision][component]).parent
        return {rel: d for rel, d in sorted(self.manifest.files.items()) if PurePosixPath(rel).parent == folder}

    def static_shapes(self, component: Component) -> dict[str, tuple[int, ...]]:
        """The input shapes a graph is loaded for."""
        m = self.manifest
        if component == "unet":
            te = m.text_embeddings
            return {"sample": self.latent_shape, "timestep": tuple(m.timestep_shape),
                    "encoder_hidden_states": (1, te.tokens, te.dim)}
        if component == "vae_encoder":
            return {"sample": (1, 3, m.height, m.width)}
        return {"latent_sample": self.latent_shape}

    def scheduler(self, name: str | None = None) -> Scheduler:
        """A fresh scheduler: the pack's own, or `name` with the pack's noise schedule."""
        return make_scheduler(name or self.manifest.scheduler.name, self.scheduler_config)

    def label(self, name: str, lang: str) -> str:
        """The style's name on screen in `lang` (English, then the preset's name, when missing)."""
        labels = self.manifest.styles[name].labels
        return labels.get(lang) or labels.get("en") or name

    def style(self, name: str) -> StyleInputs:
        """Load one style's embeddings and settings; PackError naming the choices when unknown."""
        m = self.manifest
        if name not in m.styles:
            raise PackError(f"style '{name}' is not in this pack (choose one of: {', '.join(sorted(m.styles))})")
        s = m.styles[name]
        emb = self._embedding(s.embeddings)
        neg = self._embedding(s.negative_embeddings) if s.negative_embeddings else None
        guidance = m.defaults.guidance_scale if s.guidance_scale is None else s.guidance_scale
        if guidance > 1.0 and neg is None:
            raise PackError(f"style '{name}' sets guidance_scale {guidance} but has no negative_embeddings")
        return StyleInputs(name=name, embeddings=emb, negative=neg, guidance_scale=guidance,
                           steps=s.steps or m.defaults.steps, strength=s.strength or m.defaults.strength)

    def _embedding(self, rel: str) -> np.ndarray:
        te = self.manifest.text_embeddings
        try:
            arr = np.load(self.root / rel, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise PackError(f"{self.root / rel}: cannot read embeddings: {err}") from err
        if arr.shape != (1, te.tokens, te.dim) or arr.dtype not in (np.float32, np.float16):
            raise PackError(
                f"{self.root / rel}: embeddings must be float32 (1, {te.tokens}, {te.dim}), got {arr.dtype} {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise PackError(f"{self.root / rel}: embeddings contain NaN or Inf")
        return arr.astype(np.float32)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for `kiosk models pack-info`."""
        m = self.manifest
        lic = verdict(m.license)
        return {
            "path": str(self.root),
            "model_id": m.model_id,
            "source": m.source,
            "revision": m.revision,
            "license": m.license,
            "license_use": lic.use,
            "license_note": lic.message,
            "family": m.family,
            "description": m.description,
            "size": [m.width, m.height],
            "latent": list(self.latent_shape[1:]),
            "scaling_factor": m.scaling_factor,
            "scheduler": m.scheduler.name,
            "defaults": m.defaults.model_dump(),
            "precisions": sorted(m.graphs),
            "styles": {k: {"prompt": v.prompt, "labels": v.labels} for k, v in m.styles.items()},
            "built_with": m.built_with,
            "files": len(m.files),
            "bytes": sum((self.root / f).stat().st_size for f in m.files),
        }


def read_manifest(root: Path) -> Manifest:
    """Parse and validate manifest.json; PackError naming the first problem."""
    path = root / MANIFEST
    if not path.is_file():
        raise PackError(f"{root}: no {MANIFEST} (is this a model pack folder? see `kiosk models build-pack`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PackError(f"{path}: not readable JSON: {err}") from err
    if isinstance(data, dict) and data.get("format") == "headshot-kiosk-pack/1":
        raise PackError(f"{root}: a pack of an older format: rebuild it with `kiosk models build-pack`")
    try:
        return Manifest.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise PackError(f"{path}: {key}: {first['msg']}") from err


def _file_stats(root: Path, manifest: Manifest) -> dict[str, list[int]]:
    out = {}
    for rel in manifest.files:
        st = (root / rel).stat()
        out[rel] = [st.st_size, st.st_mtime_ns]
    return out


def write_stamp(root: Path, manifest: Manifest) -> None:
    """Record each file's size and mtime after a full check (best effort: a read-only pack has none)."""
    stamp = {"manifest": sha256_file(root / MANIFEST), "files": _file_stats(root, manifest)}
    with contextlib.suppress(OSError):
        atomic_write_bytes(root / STAMP, json.dumps(stamp).encode())


def stamp_matches(root: Path, manifest: Manifest) -> bool:
    """True when every file still has the size and mtime of the last full check."""
    try:
        stamp = json.loads((root / STAMP).read_text(encoding="utf-8"))
        return bool(stamp["manifest"] == sha256_file(root / MANIFEST)
                    and stamp["files"] == _file_stats(root, manifest))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def load_pack(root: str | Path, *, verify: Verify = "stamp") -> Pack:
    """Validate a pack folder and return it.

    Args:
        root: the pack folder.
        verify: "full" hashes every file (and refreshes the stamp); "stamp" hashes only when a file's size or
            mtime changed since the last full check; "none" checks presence only.
    """
    root = Path(root)
    if not root.is_dir():
        raise PackError(f"{root}: not a folder (give the pack folder made by `kiosk models build-pack`)")
    m = read_manifest(root)
    needed = [rel for comps in m.graphs.values() for rel in comps.values()] + [m.scheduler.config]
    for s in m.styles.values():
        needed += [p for p in (s.embeddings, s.negative_embeddings) if p]
    for rel in needed:
        if rel not in m.files:
            raise PackError(f"{root}: '{rel}' is used but not listed in manifest files (no sha256 to check)")
    for rel in m.files:
        if not (root / rel).is_file():
            raise PackError(f"{root}: missing file '{rel}' (rebuild or re-pull the pack)")
    if verify == "full" or (verify == "stamp" and not stamp_matches(root, m)):
        for rel, digest in m.files.items():
            if sha256_file(root / rel) != digest:
                raise PackError(f"{root}: '{rel}' does not match its sha256 (corrupt or modified; rebuild the pack)")
        write_stamp(root, m)
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

