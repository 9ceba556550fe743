"""Where `build-pack` reads a checkpoint from: a diffusers folder, an Optimum ONNX export, or a hub id.

A hub id (`org/name[@revision]`) is resolved only on a connected machine, through huggingface_hub's
snapshot download of the files a pack needs; a local folder is read as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from models.errors import PackError

HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95})(?:@(?P<rev>[\w./-]{1,128}))?$")
# The files of either layout that a pack is built from (fp32 weights; fp16 variants are made by the build).
HUB_PATTERNS = [
    "model_index.json", "README.md", "scheduler/*", "tokenizer/*", "*/config.json",
    "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
    "text_encoder/model.safetensors", "*/model.onnx", "*/model.onnx_data",
]
Layout = Literal["diffusers", "optimum"]


class BuildError(PackError):
    """build-pack cannot make a pack from this source; the message says what to change."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint on disk and what its own files say about it."""

    root: Path
    layout: Layout
    source: str  # folder path or hub id, as recorded in the manifest
    revision: str | None
    license_id: str | None
    scheduler_class: str | None
    scheduler_config: dict[str, Any] = field(default_factory=dict)
    vae_config: dict[str, Any] = field(default_factory=dict)


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BuildError(f"{path}: not readable JSON: {err}") from err
    if not isinstance(data, dict):
        raise BuildError(f"{path}: must be a JSON object")
    return data


def card_license(root: Path) -> str | None:
    """The licence id of a model card's front matter (license_name when license is 'other')."""
    card = root / "README.md"
    if not card.is_file():
        return None
    text = card.read_text(encoding="utf-8", errors="replace")
    m = re.match(r"^---\s*\n(.*?)\n---", text, re.S)
    if not m:
        return None
    fields = dict(re.findall(r"^(license(?:_name)?):\s*['\"]?([^'\"\n]+?)['\"]?\s*$", m.group(1), re.M))
    lic = fields.get("license")
    if lic == "other" and fields.get("license_name"):
        return fields["license_name"]
    return lic


def detect_layout(root: Path) -> Layout:
    """'diffusers' (safetensors + configs) or 'optimum' (ONNX graphs); BuildError when neither."""
    if (root / "unet" / "config.json").is_file() and (root / "vae" / "config.json").is_file():
        return "diffusers"
    if all((root / c / "model.onnx").is_file() for c in ("unet", "vae_encoder", "vae_decoder")):
        return "optimum"
    raise BuildError(
        f"{root}: neither a diffusers checkpoint (unet/, vae/, text_encoder/, tokenizer/, scheduler/) nor an "
        "Optimum ONNX export (unet/model.onnx, vae_encoder/, vae_decoder/, text_encoder/, tokenizer/)"
    )


def open_checkpoint(root: Path, source: str, revision: str | None) -> Checkpoint:
    """Read a checkpoint folder's layout, scheduler, VAE config and licence."""
    layout = detect_layout(root)
    for need in ("tokenizer", "text_encoder", "scheduler"):
        if not (root / need).is_dir():
            raise BuildError(f"{root}: no {need}/ folder (style prompts are encoded with the checkpoint's own)")
    sched = _json(root / "scheduler" / "scheduler_config.json")
    vae_cfg_path = root / ("vae" if layout == "diffusers" else "vae_decoder") / "config.json"
    vae_cfg = _json(vae_cfg_path) if vae_cfg_path.is_file() else {}
    return Checkpoint(
        root=root, layout=layout, source=source, revision=revision, license_id=card_license(root),
        scheduler_class=sched.get("_class_name"), scheduler_config=sched, vae_config=vae_cfg,
    )


def resolve(source: str, revision: str | None = None) -> Checkpoint:
    """Open SOURCE: an existing folder, else a hub id downloaded through huggingface_hub (connected only)."""
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise BuildError(f"{source}: give the checkpoint's folder, not a file")
        return open_checkpoint(path, str(path.resolve()), revision)
    m = HUB_ID.match(source)
    if not m:
        raise BuildError(f"{source}: no such folder, and not a hub id (org/name[@revision])")
    repo, rev = m.group("repo"), revision or m.group("rev")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as err:
        raise BuildError("a hub id needs huggingface_hub: pip install 'headshot-kiosk[export]'") from err
    try:
        local = Path(snapshot_download(repo, revision=rev, allow_patterns=HUB_PATTERNS))
    except Exception as err:  # noqa: BLE001  # reason: the hub client raises many types (offline, 404, auth)
        raise BuildError(f"{source}: cannot download from the hub ({type(err).__name__}: {err}); "
                         "build on a connected machine, or give a local folder") from err
    # The snapshot folder is named after the commit it holds: the revision the manifest records.
    return open_checkpoint(local, repo, local.name)
