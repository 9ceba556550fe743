"""Model pack validation (format headshot-kiosk-pack/2): the pack build-pack makes passes; every kind of broken
pack is refused with a clear message; the start-up stamp hashes only what changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from models.diffusion import pack as pack_module
from models.diffusion.pack import STAMP, load_pack
from models.errors import PackError

PRESETS = {"corporate", "executive", "modern-office", "creative", "outdoor", "high-key"}


@pytest.fixture
def pack_copy(tiny_pack: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "pack"
    shutil.copytree(tiny_pack, dst, ignore=shutil.ignore_patterns("engines", STAMP))
    return dst


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files load_pack hashes (the real sha256_file, with a record of what it was given)."""
    seen: list[str] = []
    real = pack_module.sha256_file

    def spy(path: Path) -> str:
        seen.append(Path(path).name if Path(path).name == "manifest.json" else Path(path).as_posix())
        return real(path)

    monkeypatch.setattr(pack_module, "sha256_file", spy)
    return seen


def _edit_manifest(root: Path, fn: Callable[[dict], None]) -> None:
    path = root / "manifest.json"
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def _rehash(root: Path, rel: str) -> None:
    digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    _edit_manifest(root, lambda m: m["files"].__setitem__(rel, digest))


def _flip_byte_keeping_size_and_mtime(path: Path, offset: int = 200) -> None:
    st = path.stat()
    with path.open("r+b") as fh:
        fh.seek(offset)
        old = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([old[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def test_built_pack_is_valid(tiny_pack: Path) -> None:
    pack = load_pack(tiny_pack, verify="full")
    info = pack.describe()
    assert info["size"] == [128, 160] and info["latent"] == [4, 20, 16]
    assert info["license"] == "cc0-1.0" and info["license_use"] == "commercial"
    assert info["family"] == "sd-turbo" and info["scheduler"] == "euler"
    assert info["precisions"] == ["fp16", "fp32"]
    assert set(info["styles"]) == PRESETS
    assert pack.scheduler().config["timestep_spacing"] == "trailing"
    assert pack.static_shapes("unet") == {"sample": (1, 4, 20, 16), "timestep": (1,),
                                          "encoder_hidden_states": (1, 77, 32)}
    assert pack.static_shapes("vae_encoder") == {"sample": (1, 3, 160, 128)}
    style = pack.style("corporate")
    assert style.embeddings.shape == (1, 77, 32) and style.negative is None and style.guidance_scale == 0.0
    assert (style.steps, style.strength) == (4, 0.75)


def test_labels_per_language_with_the_english_fallback(tiny_pack: Path) -> None:
    pack = load_pack(tiny_pack, verify="none")
    assert pack.label("corporate", "de") == "Business"
    assert pack.label("high-key", "en") == "Bright white"
    assert pack.label("high-key", "ja") == "Bright white", "a language without a label shows the English one"


def test_precision_choice(tiny_pack: Path, pack_copy: Path) -> None:
    pack = load_pack(tiny_pack, verify="none")
    assert pack.precision(True) == "fp16" and pack.precision(False) == "fp32"
    assert pack.graph("unet", "fp16") == tiny_pack / "unet_fp16" / "model.onnx"
    assert pack.graph("vae_decoder", "fp16") == tiny_pack / "vae_decoder" / "model.onnx"
    _edit_manifest(pack_copy, lambda m: m["graphs"].pop("fp16"))
    assert load_pack(pack_copy, verify="none").precision(True) == "fp32", "no fp16 graphs: fp32 on a GPU too"


def test_graph_digests_cover_the_external_data(tiny_pack: Path) -> None:
    pack = load_pack(tiny_pack, verify="none")
    files = pack.manifest.files
    assert pack.graph_digests("unet") == {
        "unet/model.onnx": files["unet/model.onnx"], "unet/model.onnx_data": files["unet/model.onnx_data"]}
    assert set(pack.graph_digests("unet", "fp16")) == {"unet_fp16/model.onnx", "unet_fp16/model.onnx_data"}
    assert set(pack.graph_digests("vae_decoder", "fp16")) == {"vae_decoder/model.onnx", "vae_decoder/model.onnx_data"}
    assert pack.graph_digests("unet") != pack.graph_digests("unet", "fp16")


def test_unknown_style_lists_the_choices(tiny_pack: Path) -> None:
    with pytest.raises(PackError, match="choose one of: corporate, creative, executive, high-key, modern-office, "
                                        "outdoor"):
        load_pack(tiny_pack, verify="none").style("disco")


def test_modified_file_fails_sha256(pack_copy: Path) -> None:
    load_pack(pack_copy, verify="full")  # writes the stamp
    with (pack_copy / "unet" / "model.onnx_data").open("ab") as fh:
        fh.write(b"x")
    for verify in ("full", "stamp"):  # the stamp sees the size change and hashes
        with pytest.raises(PackError, match=r"'unet/model\.onnx_data' does not match its sha256"):
            load_pack(pack_copy, verify=verify)  # type: ignore[arg-type]  # reason: the literal, from a loop
    load_pack(pack_copy, verify="none")  # layout is still fine without the checksum pass


def test_missing_file(pack_copy: Path) -> None:
    (pack_copy / "vae_decoder" / "model.onnx_data").unlink()
    with pytest.raises(PackError, match=r"missing file 'vae_decoder/model\.onnx_data'"):
        load_pack(pack_copy, verify="none")


def test_a_pack_of_the_old_format_is_refused_saying_rebuild(pack_copy: Path) -> None:
    _edit_manifest(pack_copy, lambda m: m.__setitem__("format", "headshot-kiosk-pack/1"))
    with pytest.raises(PackError, match="older format: rebuild it with `kiosk models build-pack`"):
        load_pack(pack_copy)


def test_full_check_writes_a_stamp_that_spares_the_next_start_the_hashing(
    pack_copy: Path, hashed: list[str]
) -> None:
    load_pack(pack_copy, verify="full")
    listed = json.loads((pack_copy / "manifest.json").read_text())["files"]
    assert sorted(hashed) == sorted([f"{pack_copy.as_posix()}/{rel}" for rel in listed] + ["manifest.json"])
    stamp = json.loads((pack_copy / STAMP).read_text())
    assert set(stamp["files"]) == set(listed)
    hashed.clear()
    load_pack(pack_copy, verify="stamp")
    assert hashed == ["manifest.json"], "a start with an unchanged pack hashes the manifest only"
    hashed.clear()
    load_pack(pack_copy, verify="none")
    assert hashed == []


def test_stamp_trusts_size_and_mtime_and_hashes_when_either_changed(pack_copy: Path, hashed: list[str]) -> None:
    load_pack(pack_copy, verify="full")
    victim = pack_copy / "unet" / "model.onnx_data"
    _flip_byte_keeping_size_and_mtime(victim)
    hashed.clear()
    load_pack(pack_copy, verify="stamp")  # same size and mtime: the stamp is trusted (the documented trade)
    assert hashed == ["manifest.json"]
    with pytest.raises(PackError, match="does not match its sha256"):
        load_pack(pack_copy, verify="full")  # `kiosk models verify` hashes everything
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched: mtime differs
    hashed.clear()
    with pytest.raises(PackError, match=r"'unet/model\.onnx_data' does not match its sha256"):
        load_pack(pack_copy, verify="stamp")
    assert len(hashed) > 1, "a changed mtime triggers the full hash"


def test_a_changed_manifest_invalidates_the_stamp(pack_copy: Path, hashed: list[str]) -> None:
    load_pack(pack_copy, verify="full")
    _edit_manifest(pack_copy, lambda m: m.__setitem__("description", "edited"))
    hashed.clear()
    load_pack(pack_copy, verify="stamp")
    assert len(hashed) > 2, "another manifest: every file is hashed again"


def test_a_pack_without_stamp_is_hashed_in_full_at_start(pack_copy: Path, hashed: list[str]) -> None:
    assert not (pack_copy / STAMP).exists()
    load_pack(pack_copy, verify="stamp")
    assert len(hashed) > 2 and (pack_copy / STAMP).is_file()


def _first_style(m: dict) -> dict:
    return m["styles"]["corporate"]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.__setitem__("colour", "red"), "colour: Extra inputs"),
        (lambda m: m.__setitem__("format", "other/2"), "format"),
        (lambda m: m.__setitem__("width", 100), "multiples of vae_scale_factor"),
        (lambda m: m.__setitem__("height", 32), "height"),
        (lambda m: m.pop("license"), "license"),
        (lambda m: m.__setitem__("timestep_shape", [2]), r"timestep_shape must be \[\] or \[1\]"),
        (lambda m: m["graphs"]["fp32"].pop("vae_decoder"), r"graphs.fp32 lacks \['vae_decoder'\]"),
        (lambda m: m["graphs"].__setitem__("int8", m["graphs"]["fp32"]), "graphs.int8"),
        (lambda m: m["graphs"]["fp32"].__setitem__("unet", "../unet/model.onnx"), "relative path inside the pack"),
        (lambda m: m["files"].__setitem__("../etc/passwd", "0" * 64), "relative path inside the pack"),
        (lambda m: m["files"].__setitem__("unet/model.onnx", "XYZ"), "not a lowercase hex sha256"),
        (lambda m: m["styles"].__setitem__("Bad Name", _first_style(m)), "style name"),
        (lambda m: _first_style(m)["labels"].__setitem__("english", "x"), "two-letter language"),
        (lambda m: m["files"].pop("styles/executive.npy"), "not listed in manifest files"),
        (lambda m: m["files"].pop("unet/model.onnx"), "not listed in manifest files"),
        (lambda m: m["scheduler"].__setitem__("name", "ddim"), "scheduler.name"),
        (lambda m: _first_style(m).__setitem__("guidance_scale", 5.0), "no negative_embeddings"),
    ],
)
def test_bad_manifest_is_refused(pack_copy: Path, edit: Callable[[dict], None], match: str) -> None:
    _edit_manifest(pack_copy, edit)
    with pytest.raises(PackError, match=match):
        load_pack(pack_copy)


def test_rank_zero_timestep_is_fed_as_a_scalar(pack_copy: Path) -> None:
    _edit_manifest(pack_copy, lambda m: m.__setitem__("timestep_shape", []))
    assert load_pack(pack_copy, verify="none").static_shapes("unet")["timestep"] == ()


def test_style_with_guidance_loads_its_negative_embeddings(pack_copy: Path) -> None:
    shutil.copyfile(pack_copy / "styles" / "creative.npy", pack_copy / "styles" / "corporate.negative.npy")

    def guided(m: dict) -> None:
        _first_style(m).update(negative_prompt="blurry", negative_embeddings="styles/corporate.negative.npy",
                               guidance_scale=2.0)
        m["files"]["styles/corporate.negative.npy"] = m["files"]["styles/creative.npy"]

    _edit_manifest(pack_copy, guided)
    style = load_pack(pack_copy, verify="full").style("corporate")
    assert style.guidance_scale == 2.0 and style.negative is not None
    np.testing.assert_array_equal(style.negative, np.load(pack_copy / "styles" / "creative.npy"))


def test_embeddings_of_the_wrong_shape(pack_copy: Path) -> None:
    np.save(pack_copy / "styles" / "executive.npy", np.zeros((1, 77, 16), np.float32))
    _rehash(pack_copy, "styles/executive.npy")
    with pytest.raises(PackError, match=r"must be float32 \(1, 77, 32\)"):
        load_pack(pack_copy)


def test_embeddings_with_nan_are_refused(pack_copy: Path) -> None:
    emb = np.load(pack_copy / "styles" / "executive.npy")
    emb[0, 3, 4] = np.nan
    np.save(pack_copy / "styles" / "executive.npy", emb)
    _rehash(pack_copy, "styles/executive.npy")
    with pytest.raises(PackError, match="NaN or Inf"):
        load_pack(pack_copy)


def test_pickled_embeddings_are_refused(pack_copy: Path) -> None:
    np.save(pack_copy / "styles" / "executive.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _rehash(pack_copy, "styles/executive.npy")
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
    with pytest.raises(PackError, match=r"no manifest\.json .*kiosk models build-pack"):
        load_pack(tmp_path)
    with pytest.raises(PackError, match="not a folder"):
        load_pack(tmp_path / "nope")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(PackError, match="not readable JSON"):
        load_pack(tmp_path)
