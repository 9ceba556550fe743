"""`kiosk generate` and `kiosk models pull | pack-info | build-engines` as an operator runs them, on the tiny
random-weight pack made by build-pack (tests/conftest.py): its output is noise, so the quality gate refuses it
and the guest gets the studio headshot with the reason."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.pipeline.formats import get_format
from kiosk.pipeline.imageio import read_jpeg_metadata
from models.diffusion.pack import STAMP
from tests.conftest import TINY_SIZE, kiosk_env, portrait

REPO = Path(__file__).resolve().parents[3]
PHOTO = "nasa_man_east_asian_01.jpg"
GATE_MEASURES = {"seam_delta_e_p90", "noise_sigma", "fine_energy_ratio", "faces_found", "guest_face_iou"}


def run(args: list[str], data: Path) -> tuple[int, str, str]:
    env = kiosk_env(KIOSK_DATA_DIR=str(data), PYTHONPATH=str(REPO))
    env.pop("KIOSK_CONFIG", None)
    p = subprocess.run(
        [sys.executable, "-m", "kiosk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return p.returncode, p.stdout, p.stderr


def one_line_error(code: int, stderr: str, expected_code: int = 2) -> str:
    """The error line, after checking the exit code and that it is one line without a traceback."""
    assert code == expected_code, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def xmp_source_type(path: Path) -> str:
    return str(read_jpeg_metadata(path.read_bytes()).get("xmp"))


def test_generate_with_the_tiny_pack_writes_the_studio_result_and_the_gates_reason(
    isolated_env: Path, tmp_path: Path, tiny_pack: Path
) -> None:
    out, stages = tmp_path / "g.jpg", tmp_path / "stages"
    code, stdout, stderr = run(
        ["generate", str(portrait(PHOTO)), "-o", str(out), "--pack", str(tiny_pack), "--style", "corporate",
         "--seed", "9", "--steps", "4", "--strength", "0.5", "--save-stages", str(stages), "--json"],
        isolated_env,
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["generated"] is False and summary["source_type"] == "edited"
    assert summary["fallback_reason"].startswith("the AI result was refused: ")
    assert summary["seed"] == 9 and summary["style"] == "corporate"
    gate = summary["gate"]
    assert gate["passed"] is False and gate["failed"] in ("seam", "noise")
    assert set(gate["measures"]) >= GATE_MEASURES, gate
    assert gate["measures"]["seam_delta_e_p90"] > 15, "random weights draw noise that does not join the guest"
    assert any("studio result delivered" in n for n in summary["notes"])
    cell = get_format(summary["format"]).cell
    assert (summary["width"], summary["height"]) == cell
    img = cv2.imread(str(out))
    assert img is not None and (img.shape[1], img.shape[0]) == cell
    xmp = xmp_source_type(out)
    assert "algorithmicallyEnhanced" in xmp and "compositeWithTrainedAlgorithmicMedia" not in xmp

    w, h = TINY_SIZE
    for name in ("input", "mask", "output"):
        assert (stages / f"{name}.npy").is_file() and cv2.imread(str(stages / f"{name}.png")) is not None, name
    model_in, mask, model_out = (np.load(stages / f"{n}.npy") for n in ("input", "mask", "output"))
    assert model_in.shape == model_out.shape == (h, w, 3) and mask.shape == (h, w)
    assert model_in.dtype == model_out.dtype == np.float32 and model_in.min() >= 0 and model_in.max() <= 1
    assert set(np.unique(mask).tolist()) == {0.0, 1.0}, "regenerate (1) around a kept head (0)"
    assert mask[0, 0] == mask[0, -1] == 1.0, "the backdrop's corners are regenerated"
    assert (cv2.imread(str(stages / "mask.png"), cv2.IMREAD_UNCHANGED) == (mask * 255).astype(np.uint8)).all()


def test_no_fallback_exits_1_and_writes_nothing_when_the_gate_refuses(
    isolated_env: Path, tmp_path: Path, tiny_pack: Path
) -> None:
    out = tmp_path / "g.jpg"
    code, _, stderr = run(
        ["generate", str(portrait(PHOTO)), "-o", str(out), "--pack", str(tiny_pack), "--seed", "2", "--no-fallback"],
        isolated_env,
    )
    assert "the AI result was refused" in one_line_error(code, stderr, expected_code=1)
    assert not out.exists()


def test_generate_without_a_pack_writes_the_studio_result_and_says_how_to_build_one(
    isolated_env: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.jpg"
    code, stdout, _ = run(["generate", str(portrait(PHOTO)), "-o", str(out)], isolated_env)
    assert code == 0 and "studio headshot" in stdout
    assert "kiosk models build-pack stabilityai/sd-turbo" in stdout and "packs/default" in stdout
    assert "compositeWithTrainedAlgorithmicMedia" not in xmp_source_type(out)
    code, _, stderr = run(["generate", str(portrait(PHOTO)), "-o", str(out), "--no-fallback"], isolated_env)
    assert "no model pack installed" in one_line_error(code, stderr, expected_code=1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--style", "disco"], "choose one of: corporate, executive, modern-office, creative, outdoor, high-key"),
        (["--steps", "0"], "--steps 0"),
        (["--strength", "1.5"], "--strength 1.5"),
        (["--seed", "-1"], "--seed -1"),
        (["--steps", "1", "--strength", "0.5"], "runs no step"),
    ],
)
def test_generate_bad_arguments_exit_2(
    isolated_env: Path, tmp_path: Path, tiny_pack: Path, extra: list[str], message: str
) -> None:
    out = tmp_path / "x.jpg"
    code, _, stderr = run(["generate", str(portrait(PHOTO)), "-o", str(out), "--pack", str(tiny_pack), *extra],
                          isolated_env)
    assert message in one_line_error(code, stderr)
    assert not out.exists()


def test_generate_with_a_bad_pack_or_output_exits_2(isolated_env: Path, tmp_path: Path, tiny_pack: Path) -> None:
    photo = str(portrait(PHOTO))
    code, _, stderr = run(["generate", photo, "-o", str(tmp_path / "x.png"), "--pack", str(tiny_pack)], isolated_env)
    assert "must be a .jpg" in one_line_error(code, stderr)
    code, _, stderr = run(["generate", photo, "-o", str(tmp_path / "x.jpg"), "--pack", str(tmp_path / "none")],
                          isolated_env)
    assert "not a folder" in one_line_error(code, stderr)
    old = tmp_path / "old-pack"
    shutil.copytree(tiny_pack, old, ignore=shutil.ignore_patterns("engines"))
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "format": "headshot-kiosk-pack/1"}))
    code, _, stderr = run(["generate", photo, "-o", str(tmp_path / "x.jpg"), "--pack", str(old)], isolated_env)
    assert "rebuild it with `kiosk models build-pack`" in one_line_error(code, stderr)
    assert not (tmp_path / "x.jpg").exists()


def test_pack_info_shows_the_licence_and_catches_a_changed_file(
    isolated_env: Path, tmp_path: Path, tiny_pack: Path
) -> None:
    code, stdout, _ = run(["models", "pack-info", str(tiny_pack), "--json"], isolated_env)
    info = json.loads(stdout)
    assert code == 0 and info["model_id"] == "tiny_diffusers" and info["verified"] is True
    assert (info["license"], info["license_use"]) == ("cc0-1.0", "commercial")
    assert info["size"] == list(TINY_SIZE) and info["precisions"] == ["fp16", "fp32"]
    assert info["styles"]["corporate"]["labels"]["en"] == "Corporate"
    nc = tmp_path / "nc"
    shutil.copytree(tiny_pack, nc, ignore=shutil.ignore_patterns("engines", STAMP))
    manifest = json.loads((nc / "manifest.json").read_text())
    (nc / "manifest.json").write_text(json.dumps({**manifest, "license": "sai-nc-community"}))
    code, stdout, _ = run(["models", "pack-info", str(nc)], isolated_env)
    assert code == 0
    licence = next(line for line in stdout.splitlines() if line.startswith("licence"))
    assert "sai-nc-community (non-commercial)" in licence and "a paying event needs another model" in licence
    code, stdout, _ = run(["models", "pack-info", str(nc), "--no-verify", "--json"], isolated_env)
    assert code == 0 and json.loads(stdout)["verified"] is False
    with (nc / "unet" / "model.onnx_data").open("r+b") as fh:
        fh.write(b"changed")
    code, _, stderr = run(["models", "pack-info", str(nc)], isolated_env)
    assert "'unet/model.onnx_data' does not match its sha256" in one_line_error(code, stderr)


@pytest.fixture
def pack_server(tmp_path: Path, tiny_pack: Path) -> Iterator[str]:
    root = tmp_path / "www"
    shutil.copytree(tiny_pack, root / "tiny", ignore=shutil.ignore_patterns("engines", STAMP))
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/tiny/"
    httpd.shutdown()
    httpd.server_close()


def test_pull_then_generate_from_the_default_pack(
    isolated_env: Path, models_dir: Path, tmp_path: Path, pack_server: str
) -> None:
    # isolated_env links the shared models folder in; the pulled pack must not land there.
    (isolated_env / "models").unlink()
    shutil.copytree(models_dir, isolated_env / "models")
    code, stdout, stderr = run(["models", "pull", pack_server, "--quiet"], isolated_env)
    assert code == 0, stderr
    default = isolated_env / "models" / "packs" / "default"
    assert (default / "manifest.json").is_file() and (default / STAMP).is_file()
    assert "licence: cc0-1.0: commercial use allowed" in stdout
    code, _, stderr = run(["models", "pull", pack_server], isolated_env)
    assert "--force" in one_line_error(code, stderr)
    out = tmp_path / "p.jpg"
    code, stdout, stderr = run(["generate", str(portrait(PHOTO)), "-o", str(out), "--seed", "1"], isolated_env)
    assert code == 0, stderr
    assert "studio headshot" in stdout and "the AI result was refused" in stdout, "the pulled pack was used"
    assert out.is_file()


def test_build_engines_needs_a_gpu(isolated_env: Path, tiny_pack: Path) -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        code, _, stderr = run(["models", "build-engines", str(tiny_pack)], isolated_env)
        assert "tensorrt" in one_line_error(code, stderr).lower()
        code, _, stderr = run(["models", "build-engines", str(tiny_pack), "--backend", "tensorrt"], isolated_env)
        assert "TensorRT is not installed" in one_line_error(code, stderr)
        return
    pytest.skip("tensorrt is installed here: the GPU build is exercised in tests/models/runtime")
