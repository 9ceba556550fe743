"""Model pack validation: the tiny pack passes; every kind of broken pack is refused with a clear message."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from models.diffusion.pack import load_pack
from models.errors import PackError

PACK = Path(__file__).resolve().parents[2] / "fixtures" / "tiny_pack"


@pytest.fixture
def pack_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "pack"
    shutil.copytree(PACK, dst)
    return dst


def _edit_manifest(root: Path, fn: Callable[[dict], None]) -> None:
    path = root / "manifest.json"
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def _rehash(root: Path, rel: str) -> None:
    digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    _edit_manifest(root, lambda m: m["files"].__setitem__(rel, digest))


def test_tiny_pack_is_valid() -> None:
    pack = load_pack(PACK)
    info = pack.describe()
    assert info["resolution"] == 128 and info["latent"] == [4, 16, 16]
    assert set(info["styles"]) == {"studio", "office", "outdoor", "studio-cfg"}
    style = pack.style("studio-cfg")
    assert style.negative is not None and style.guidance_scale == 2.0
    assert pack.scheduler().config["timestep_spacing"] == "trailing"


def test_unknown_style_lists_the_choices() -> None:
    with pytest.raises(PackError, match="choose one of: office, outdoor, studio"):
        load_pack(PACK).style("disco")


def test_modified_file_fails_sha256(pack_copy: Path) -> None:
    with (pack_copy / "unet" / "model.onnx").open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(PackError, match="does not match its sha256"):
        load_pack(pack_copy)
    load_pack(pack_copy, verify=False)  # layout is still fine without the checksum pass


def test_missing_file(pack_copy: Path) -> None:
    (pack_copy / "vae_decoder" / "model.onnx").unlink()
    with pytest.raises(PackError, match=r"missing file 'vae_decoder/model\.onnx'"):
        load_pack(pack_copy)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.__setitem__("colour", "red"), "colour: Extra inputs"),
        (lambda m: m.__setitem__("format", "other/2"), "format"),
        (lambda m: m.__setitem__("resolution", 100), "not a multiple of vae_scale_factor"),
        (lambda m: m.__setitem__("resolution", 32), "resolution"),
        (lambda m: m["files"].__setitem__("../etc/passwd", "0" * 64), "relative path inside the pack"),
        (lambda m: m["files"].__setitem__("unet/model.onnx", "XYZ"), "not a lowercase hex sha256"),
        (lambda m: m["styles"].__setitem__("Bad Name", m["styles"]["studio"]), "style name"),
        (lambda m: m["files"].pop("styles/office.npy"), "not listed in manifest files"),
        (lambda m: m["scheduler"].__setitem__("name", "ddim"), "scheduler.name"),
        (lambda m: m["styles"]["office"].__setitem__("guidance_scale", 5.0), "no negative_embeddings"),
    ],
)
def test_bad_manifest_is_refused(pack_copy: Path, edit: Callable[[dict], None], match: str) -> None:
    _edit_manifest(pack_copy, edit)
    with pytest.raises(PackError, match=match):
        load_pack(pack_copy)


def test_embeddings_of_the_wrong_shape(pack_copy: Path) -> None:
    np.save(pack_copy / "styles" / "office.npy", np.zeros((1, 77, 16), np.float32))
    _rehash(pack_copy, "styles/office.npy")
    with pytest.raises(PackError, match=r"must be float32 \(1, 77, 32\)"):
        load_pack(pack_copy)


def test_pickled_embeddings_are_refused(pack_copy: Path) -> None:
    np.save(pack_copy / "styles" / "office.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _rehash(pack_copy, "styles/office.npy")
    with pytest.raises(PackError, match="cannot read embeddings"):
        load_pack(pack_copy)


def test_unsupported_scheduler_config(pack_copy: Path) -> None:
    cfg_path = pack_copy / "scheduler" / "scheduler_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["use_karras_sigmas"] = True
    cfg_path.write_text(json.dumps(cfg))
    _rehash(pack_copy, "scheduler/scheduler_config.json")
    with pytest.raises(PackError, match="use_karras_sigmas"):
        load_pack(pack_copy)


def test_not_a_pack(tmp_path: Path) -> None:
    with pytest.raises(PackError, match=r"no manifest\.json"):
        load_pack(tmp_path)
    with pytest.raises(PackError, match="not a folder"):
        load_pack(tmp_path / "nope")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(PackError, match="not readable JSON"):
        load_pack(tmp_path)
