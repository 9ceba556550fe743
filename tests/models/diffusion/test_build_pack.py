"""`kiosk models build-pack` as an operator runs it (the real CLI in a subprocess), from the tiny random
checkpoint (tests/fixtures/tiny_diffusers) and from an Optimum-style ONNX export of the same weights.

What is checked: the manifest lists every file with its sha256; the licence comes from the model card; the
graphs have static shapes at the asked size, opset 17 and fp16 where asked; the presets' embeddings are the
checkpoint's own text encoder's; the family decides scheduler and defaults; every refusal is exit 2 with
one line that says what to change. An Optimum export (UNet timestep of rank 0, VAE encoder giving the latent
distribution's parameters, int32 text encoder ids, weights in model.onnx_data) is accepted with either
timestep rank: the manifest records it, and the pack generates (ONNX Runtime on the CPU) the same picture
as the pack exported from the diffusers checkpoint itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.diffusion.pack import STAMP, Pack, load_pack, stamp_matches
from models.diffusion.pipeline import Img2ImgPipeline
from models.runtime import OrtConfig, make_runtime
from tests.conftest import TINY_CHECKPOINT

torch = pytest.importorskip("torch", reason="build-pack needs the export extra (./run.sh test installs it)")
pytest.importorskip("diffusers", reason="build-pack needs the export extra")
pytest.importorskip("transformers", reason="build-pack needs the export extra")
onnx = pytest.importorskip("onnx", reason="build-pack needs the export extra")

pytestmark = pytest.mark.slow

KIOSK = Path(sys.executable).with_name("kiosk")  # .venv/bin/kiosk, the console script an operator runs
PRESETS = ["corporate", "executive", "modern-office", "creative", "outdoor", "high-key"]
SIZE = (128, 192)  # width, height: a multiple of 64 (what an Optimum export is built at) and of 16 (the tiny UNet)
PHOTO_SEED = 4


def build_pack(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KIOSK_CONFIG"}
    return subprocess.run([str(KIOSK), "models", "build-pack", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a refused build (exit 2, no traceback)."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("kiosk: ")
    return lines[0]


def built(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", "the export libraries' chatter stays off the operator's terminal"
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def manifest(pack: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pack / "manifest.json").read_text())
    return data


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_every_file_listed(pack: Path) -> None:
    m = manifest(pack)
    on_disk = {p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()} - {"manifest.json", STAMP}
    assert set(m["files"]) == on_disk
    for rel, digest in m["files"].items():
        assert sha256(pack / rel) == digest, rel
    assert stamp_matches(pack, load_pack(pack, verify="none").manifest), "the stamp of the build's full check"


def static_inputs(path: Path) -> dict[str, tuple[int, ...]]:
    """Every graph input's shape; fails on a free (named) dimension."""
    model = onnx.load(str(path), load_external_data=False)
    out = {}
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        assert all(d.HasField("dim_value") for d in dims), f"{path}: {inp.name} has a free dimension"
        out[inp.name] = tuple(d.dim_value for d in dims)
    return out


def opset(path: Path) -> int:
    model = onnx.load(str(path), load_external_data=False)
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


# -- packs built from the diffusers checkpoint ------------------------------------------------------------


@pytest.fixture(scope="module")
def turbo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("turbo") / "pack"
    report = built(build_pack(TINY_CHECKPOINT, "-o", out, "--family", "sd-turbo", "--fp16",
                              "--resolution", f"{SIZE[0]}x{SIZE[1]}", "--json"))
    return out, report


@pytest.fixture(scope="module")
def lcm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("lcm") / "pack"
    out.mkdir()
    (out / "old-file.txt").write_text("an older pack")
    report = built(build_pack(TINY_CHECKPOINT, "-o", out, "--family", "sd15-lcm", "--force",
                              "--resolution", f"{SIZE[0]}x{SIZE[1]}", "--json"))
    return out, report


def test_turbo_pack_lists_every_file_with_its_sha256_and_the_cards_licence(turbo: tuple[Path, dict[str, Any]]) -> None:
    pack, report = turbo
    assert_every_file_listed(pack)
    m = manifest(pack)
    assert m["format"] == "headshot-kiosk-pack/2"
    assert m["license"] == "cc0-1.0", "read from the model card's front matter"
    assert (pack / "MODEL_CARD.md").read_text() == (TINY_CHECKPOINT / "README.md").read_text()
    assert m["model_id"] == "tiny_diffusers" and m["source"] == str(TINY_CHECKPOINT.resolve())
    assert m["revision"] is None, "a local folder has no revision"
    assert (m["family"], m["width"], m["height"]) == ("sd-turbo", *SIZE)
    assert m["scaling_factor"] == 0.18215 and m["vae_scale_factor"] == 8 and m["latent_channels"] == 4
    assert m["timestep_shape"] == [1]
    assert m["text_embeddings"] == {"tokens": 77, "dim": 32}
    assert m["defaults"] == {"steps": 4, "strength": 0.75, "guidance_scale": 0.0}
    assert {"torch", "diffusers", "transformers", "onnx"} <= set(m["built_with"])
    assert report["files"] == len(m["files"]) + 1 and report["variants"] == ["fp16", "fp32"]
    assert report["license"] == "cc0-1.0" and report["size"] == list(SIZE)
    sched = json.loads((pack / m["scheduler"]["config"]).read_text())
    assert m["scheduler"]["name"] == "euler"
    assert (sched["_class_name"], sched["timestep_spacing"], sched["prediction_type"]) == (
        "EulerDiscreteScheduler", "trailing", "epsilon")


def test_turbo_graphs_are_static_opset_17_with_an_fp16_unet(turbo: tuple[Path, dict[str, Any]]) -> None:
    pack, _ = turbo
    m = manifest(pack)
    w, h = SIZE
    latent = (1, 4, h // 8, w // 8)
    assert m["graphs"]["fp32"] == {"unet": "unet/model.onnx", "vae_encoder": "vae_encoder/model.onnx",
                                   "vae_decoder": "vae_decoder/model.onnx"}
    assert m["graphs"]["fp16"] == {**m["graphs"]["fp32"], "unet": "unet_fp16/model.onnx"}, "the VAE stays fp32"
    want = {"unet": {"sample": latent, "timestep": (1,), "encoder_hidden_states": (1, 77, 32)},
            "vae_encoder": {"sample": (1, 3, h, w)}, "vae_decoder": {"latent_sample": latent}}
    for precision, graphs in m["graphs"].items():
        for comp, rel in graphs.items():
            assert static_inputs(pack / rel) == want[comp], (precision, comp)
            assert opset(pack / rel) >= 17
    half = onnx.load(str(pack / "unet_fp16" / "model.onnx"))
    types = {t.data_type for t in half.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in types, "the fp16 UNet holds half-precision weights"
    io = [i.type.tensor_type.elem_type for i in (*half.graph.input, *half.graph.output)]
    assert set(io) == {onnx.TensorProto.FLOAT}, "float32 in and out; the casts are inside the graph"


def test_preset_embeddings_are_the_checkpoints_own_text_encoder(turbo: tuple[Path, dict[str, Any]]) -> None:
    from transformers import CLIPTextModel, CLIPTokenizer

    pack, _ = turbo
    m = manifest(pack)
    assert list(m["styles"]) == PRESETS
    tokenizer = CLIPTokenizer.from_pretrained(str(TINY_CHECKPOINT / "tokenizer"))
    encoder = CLIPTextModel.from_pretrained(str(TINY_CHECKPOINT / "text_encoder")).eval()
    for name, style in m["styles"].items():
        assert style["labels"]["en"] and set(style["labels"]) == {"en", "es", "fr", "de", "pt", "zh"}, name
        ids = tokenizer(style["prompt"], padding="max_length", max_length=77, truncation=True,
                        return_tensors="pt").input_ids
        with torch.no_grad():
            want = encoder(ids)[0].numpy()
        got = np.load(pack / style["embeddings"])
        assert got.dtype == np.float32 and got.shape == (1, 77, 32)
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=name)
        assert "negative_embeddings" not in style, "no guidance in sd-turbo: no negative prompt"


def test_lcm_family_pack(lcm: tuple[Path, dict[str, Any]]) -> None:
    pack, report = lcm
    assert not (pack / "old-file.txt").exists(), "--force replaced the old folder whole"
    assert not list(pack.parent.glob(".pack.build*")), "no staging folder left"
    assert_every_file_listed(pack)
    m = manifest(pack)
    assert (m["family"], m["width"], m["height"]) == ("sd15-lcm", *SIZE)
    assert report["variants"] == ["fp32"] and list(m["graphs"]) == ["fp32"]
    assert m["defaults"] == {"steps": 4, "strength": 0.75, "guidance_scale": 1.0}
    assert m["scheduler"]["name"] == "lcm"
    sched = json.loads((pack / m["scheduler"]["config"]).read_text())
    assert sched["_class_name"] == "LCMScheduler" and sched["original_inference_steps"] == 50
    assert sched["beta_schedule"] == "scaled_linear", "the checkpoint's own noise schedule is kept"
    assert load_pack(pack).scheduler().img2img_timesteps(4, 0.5)[0].tolist() == [499, 379, 259, 139]


def test_an_existing_folder_needs_force(turbo: tuple[Path, dict[str, Any]]) -> None:
    pack, _ = turbo
    before = sha256(pack / "manifest.json")
    line = refused(build_pack(TINY_CHECKPOINT, "-o", pack))
    assert f"{pack} exists" in line and "--force" in line
    assert sha256(pack / "manifest.json") == before, "the pack there is untouched"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resolution", "100x100"], "--resolution 100x100: each side must be a multiple of 16"),
        (["--resolution", "32x32"], "64..2048 px"),
        (["--resolution", "big"], "--resolution big: give WIDTHxHEIGHT in px"),
    ],
    ids=["not-a-multiple", "too-small", "not-a-size"],
)
def test_a_size_the_model_cannot_take_is_refused(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "pack"
    assert message in refused(build_pack(TINY_CHECKPOINT, "-o", out, *args))
    assert not out.exists() and not list(tmp_path.iterdir())


def test_an_unknown_family_is_refused_naming_the_families(tmp_path: Path) -> None:
    done = build_pack(TINY_CHECKPOINT, "-o", tmp_path / "pack", "--family", "sdxl-turbo")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "--family" in last and "sd-turbo" in last and "sd15-lcm" in last
    assert not (tmp_path / "pack").exists()


def test_a_family_the_checkpoint_does_not_match_is_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "other-vae"
    shutil.copytree(TINY_CHECKPOINT, ckpt)
    cfg = json.loads((ckpt / "vae" / "config.json").read_text())
    (ckpt / "vae" / "config.json").write_text(json.dumps({**cfg, "scaling_factor": 0.13025}))  # SDXL's VAE
    line = refused(build_pack(ckpt, "-o", tmp_path / "pack"))
    assert "scaling_factor 0.13025 is not 0.18215" in line and "--family" in line


def test_a_prompt_longer_than_the_text_encoders_window_is_refused_naming_the_style(tmp_path: Path) -> None:
    styles = tmp_path / "styles.toml"
    styles.write_text('[styles.short]\nprompt = "grey studio backdrop, navy suit"\n\n'
                      f'[styles.long-one]\nprompt = "{"word " * 80}"\nlabels = {{ en = "Long" }}\n')
    out = tmp_path / "pack"
    line = refused(build_pack(TINY_CHECKPOINT, "-o", out, "--resolution", "128x160", "--styles", styles))
    assert "style 'long-one'" in line and "the text encoder reads 77" in line and "shorten it" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["styles.toml"], "no pack, no staging folder left"


def test_a_styles_file_with_an_unknown_key_is_refused_before_any_export(tmp_path: Path) -> None:
    styles = tmp_path / "styles.toml"
    styles.write_text('[styles.corporate]\nprompt = "navy suit"\ncolour = "blue"\n')
    line = refused(build_pack(TINY_CHECKPOINT, "-o", tmp_path / "pack", "--styles", styles))
    assert str(styles) in line and "styles.corporate.colour" in line


def test_a_checkpoint_without_a_licence_needs_one_given(tmp_path: Path) -> None:
    ckpt = tmp_path / "no-card"
    shutil.copytree(TINY_CHECKPOINT, ckpt)
    (ckpt / "README.md").unlink()
    line = refused(build_pack(ckpt, "-o", tmp_path / "pack"))
    assert "names no licence" in line and "--license" in line


def test_a_folder_that_is_no_checkpoint_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    line = refused(build_pack(tmp_path / "empty", "-o", tmp_path / "pack"))
    assert "neither a diffusers checkpoint" in line and "Optimum ONNX export" in line
    line = refused(build_pack("./no-such-checkpoint", "-o", tmp_path / "pack"))
    assert "no such folder, and not a hub id" in line


# -- an Optimum-style export of the same weights ------------------------------------------------------------


class Wrapped(torch.nn.Module):
    """A network as a submodule (so its weights are the graph's initializers), in inference mode."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)


def _export(module: Any, args: tuple[Any, ...], path: Path, inputs: list[str], outputs: list[str],
            axes: dict[str, dict[int, str]], external: bool = False) -> None:
    """torch → ONNX the way Optimum does it: named dynamic axes, weights in model.onnx_data when asked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.parent / "raw.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow, the exporter's deprecation
        torch.onnx.export(module, args, str(raw), input_names=inputs, output_names=outputs, dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    model = onnx.load(str(raw))
    raw.unlink()
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx_data", size_threshold=0)
    else:
        onnx.save_model(model, str(path))


@pytest.fixture(scope="module")
def optimum_parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Everything of an Optimum export but the UNet: text encoder, VAE encoder and decoder, configs, card."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel

    root = tmp_path_factory.mktemp("optimum") / "parts"
    w, h = SIZE
    for name in ("scheduler", "tokenizer"):
        shutil.copytree(TINY_CHECKPOINT / name, root / name)
    shutil.copyfile(TINY_CHECKPOINT / "model_index.json", root / "model_index.json")
    (root / "README.md").write_text("---\nlicense: creativeml-openrail-m\nlibrary_name: optimum\n---\n\n"
                                    "# Optimum ONNX export of the tiny random checkpoint\n")
    class TextEncoder(Wrapped):
        """Optimum's SD text encoder: int32 ids in, last hidden state and pooled output out."""

        def forward(self, input_ids: Any) -> Any:
            out = self.net(input_ids.long())
            return out.last_hidden_state, out.pooler_output

    text = CLIPTextModel.from_pretrained(str(TINY_CHECKPOINT / "text_encoder"))
    _export(TextEncoder(text), (torch.zeros((1, 77), dtype=torch.int32),), root / "text_encoder" / "model.onnx",
            ["input_ids"], ["last_hidden_state", "pooler_output"],
            {"input_ids": {0: "batch_size", 1: "sequence_length"}})
    shutil.copyfile(TINY_CHECKPOINT / "text_encoder" / "config.json", root / "text_encoder" / "config.json")

    vae = AutoencoderKL.from_pretrained(str(TINY_CHECKPOINT / "vae")).eval()

    class VaeEncoder(Wrapped):
        """Optimum's: the latent distribution's parameters (mean and log-variance, 2C channels)."""

        def forward(self, sample: Any) -> Any:
            return self.net.encode(sample).latent_dist.parameters

    class VaeDecoder(Wrapped):
        def forward(self, latent_sample: Any) -> Any:
            return self.net.decode(latent_sample).sample

    image_axes = {0: "batch_size", 2: "height", 3: "width"}
    _export(VaeEncoder(vae), (torch.zeros((1, 3, h, w)),), root / "vae_encoder" / "model.onnx", ["sample"],
            ["latent_parameters"], {"sample": image_axes, "latent_parameters": image_axes})
    _export(VaeDecoder(vae), (torch.zeros((1, 4, h // 8, w // 8)),), root / "vae_decoder" / "model.onnx",
            ["latent_sample"], ["sample"], {"latent_sample": image_axes, "sample": image_axes})
    for comp in ("vae_encoder", "vae_decoder"):
        shutil.copyfile(TINY_CHECKPOINT / "vae" / "config.json", root / comp / "config.json")
    return root


def _optimum_export(parts: Path, out: Path, rank: int) -> Path:
    """The parts plus a UNet whose timestep input has rank 0 (Optimum's) or 1, weights in model.onnx_data."""
    from diffusers import UNet2DConditionModel

    shutil.copytree(parts, out)
    class Unet(Wrapped):
        def forward(self, sample: Any, timestep: Any, encoder_hidden_states: Any) -> Any:
            return self.net(sample, timestep, encoder_hidden_states=encoder_hidden_states).sample

    w, h = SIZE
    timestep = torch.tensor(500.0) if rank == 0 else torch.tensor([500.0])
    axes = {"sample": {0: "batch_size", 2: "height", 3: "width"},
            "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
            "out_sample": {0: "batch_size", 2: "height", 3: "width"}}
    if rank == 1:
        axes["timestep"] = {0: "steps"}
    unet = UNet2DConditionModel.from_pretrained(str(TINY_CHECKPOINT / "unet"))
    _export(Unet(unet), (torch.zeros((1, 4, h // 8, w // 8)), timestep, torch.zeros((1, 77, 32))),
            out / "unet" / "model.onnx", ["sample", "timestep", "encoder_hidden_states"], ["out_sample"], axes,
            external=True)
    shutil.copyfile(TINY_CHECKPOINT / "unet" / "config.json", out / "unet" / "config.json")
    graph = onnx.load(str(out / "unet" / "model.onnx"), load_external_data=False)
    [ts] = [i for i in graph.graph.input if i.name == "timestep"]
    assert len(ts.type.tensor_type.shape.dim) == rank
    return out


@pytest.fixture(scope="module", params=[0, 1], ids=["timestep-rank-0", "timestep-rank-1"])
def optimum_pack(request: pytest.FixtureRequest, optimum_parts: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    rank = int(request.param)
    base = tmp_path_factory.mktemp(f"optimum-rank{rank}")
    export = _optimum_export(optimum_parts, base / "export", rank)
    out = base / "pack"
    built(build_pack(export, "-o", out, "--resolution", f"{SIZE[0]}x{SIZE[1]}", "--json"))
    return out, rank


def _photo_and_mask() -> tuple[np.ndarray, np.ndarray]:
    w, h = SIZE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(PHOTO_SEED)
    img = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin(xx / 9 + yy / 13)], axis=-1)
    img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1).astype(np.float32)
    head = ((xx - w * 0.5) / (w * 0.28)) ** 2 + ((yy - h * 0.38) / (h * 0.3)) ** 2 < 1
    return img, (~head).astype(np.float32)


def _generate(pack: Pack) -> tuple[np.ndarray, list[float]]:
    img, mask = _photo_and_mask()
    pipe = Img2ImgPipeline(pack, make_runtime(OrtConfig(providers=["cpu"])))
    res = pipe(img, pack.style("corporate"), mask=mask, seed=21)
    assert res.image.shape == (SIZE[1], SIZE[0], 3) and np.isfinite(res.image).all()
    return res.image, res.timesteps


def test_optimum_export_is_accepted_with_its_timestep_rank(optimum_pack: tuple[Path, int]) -> None:
    pack, rank = optimum_pack
    assert_every_file_listed(pack)
    m = manifest(pack)
    assert m["timestep_shape"] == [1] * rank, "the rank the graph declares, fed as such"
    assert m["license"] == "creativeml-openrail-m", "the export's own model card"
    assert (m["family"], m["width"], m["height"]) == ("sd-turbo", *SIZE), "family from the scheduler config"
    assert list(m["graphs"]) == ["fp32"]
    assert "unet/model.onnx_data" in m["files"], "the external weights came along, with their sha256"
    w, h = SIZE
    assert static_inputs(pack / "unet" / "model.onnx") == {
        "sample": (1, 4, h // 8, w // 8), "timestep": (1,) * rank, "encoder_hidden_states": (1, 77, 32)}
    assert static_inputs(pack / "vae_encoder" / "model.onnx") == {"sample": (1, 3, h, w)}
    assert static_inputs(pack / "vae_decoder" / "model.onnx") == {"latent_sample": (1, 4, h // 8, w // 8)}
    loaded = load_pack(pack, verify="full")
    assert loaded.static_shapes("unet")["timestep"] == (1,) * rank
    image, timesteps = _generate(loaded)
    assert timesteps == [749.0, 499.0, 249.0], "sd-turbo defaults: 3 of 4 Euler steps at 0.75"
    assert float(image.std()) > 0.01


def test_optimum_pack_generates_what_the_diffusers_export_generates(
    optimum_pack: tuple[Path, int], turbo: tuple[Path, dict[str, Any]]
) -> None:
    """Same weights, two routes (the diffusers checkpoint exported here; Optimum's graphs imported): one picture."""
    pack, _ = optimum_pack
    reference = load_pack(turbo[0])
    ours = load_pack(pack)
    for name in PRESETS:  # encoded by the export's ONNX text encoder against the checkpoint's torch one
        np.testing.assert_allclose(ours.style(name).embeddings, reference.style(name).embeddings, atol=1e-4)
    got, _ = _generate(ours)
    want, _ = _generate(reference)
    assert float(np.abs(got - want).max()) < 1e-3


def test_optimum_export_with_fp16_asked_or_an_old_opset_is_refused(
    optimum_parts: Path, tmp_path: Path
) -> None:
    export = _optimum_export(optimum_parts, tmp_path / "export", rank=0)
    line = refused(build_pack(export, "-o", tmp_path / "pack", "--resolution", "128x192", "--fp16"))
    assert "--fp16 with an Optimum export" in line and "--dtype fp16" in line
    unet = export / "unet" / "model.onnx"
    graph = onnx.load(str(unet), load_external_data=False)
    for op in graph.opset_import:
        if op.domain in ("", "ai.onnx"):
            op.version = 14  # Optimum's default opset for Stable Diffusion
    onnx.save_model(graph, str(unet))
    line = refused(build_pack(export, "-o", tmp_path / "pack", "--resolution", "128x192"))
    assert "opset 14" in line and "opset ≥ 17" in line
    assert not (tmp_path / "pack").exists() and not (tmp_path / ".pack.build").exists()
