"""`kiosk generate` and `kiosk models pull | pack-info | build-engines` as an operator runs them."""

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

import pytest

from kiosk.pipeline.imageio import read_jpeg_metadata
from tests.conftest import kiosk_env, portrait

REPO = Path(__file__).resolve().parents[3]
PACK = REPO / "tests" / "fixtures" / "tiny_pack"
PHOTO = "nasa_man_east_asian_01.jpg"


def run(args: list[str], data: Path) -> tuple[int, str, str]:
    env = kiosk_env(KIOSK_DATA_DIR=str(data), PYTHONPATH=str(REPO))
    env.pop("KIOSK_CONFIG", None)
    p = subprocess.run(
        [sys.executable, "-m", "kiosk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return p.returncode, p.stdout, p.stderr


def test_generate_with_the_tiny_pack(isolated_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.jpg"
    code, stdout, stderr = run(
        [
            "generate",
            str(portrait(PHOTO)),
            "-o",
            str(out),
            "--pack",
            str(PACK),
            "--style",
            "office",
            "--seed",
            "9",
            "--steps",
            "4",
            "--strength",
            "0.5",
            "--json",
        ],
        isolated_env,
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["generated"] and summary["seed"] == 9 and summary["face_ssim"] >= 0.9
    assert "compositeWithTrainedAlgorithmicMedia" in str(read_jpeg_metadata(out.read_bytes()).get("xmp"))


def test_generate_without_a_pack_writes_the_studio_result_and_says_why(
    isolated_env: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.jpg"
    code, stdout, _ = run(["generate", str(portrait(PHOTO)), "-o", str(out)], isolated_env)
    assert code == 0 and "studio headshot" in stdout and "kiosk models pull" in stdout
    assert "compositeWithTrainedAlgorithmicMedia" not in str(read_jpeg_metadata(out.read_bytes()).get("xmp"))
    code, _, stderr = run(["generate", str(portrait(PHOTO)), "-o", str(out), "--no-fallback"], isolated_env)
    assert code == 1 and "no model pack installed" in stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--style", "disco"], "choose one of: studio, office"),
        (["--steps", "0"], "--steps 0"),
        (["--strength", "1.5"], "--strength 1.5"),
        (["--steps", "1", "--strength", "0.5"], "runs no step"),
    ],
)
def test_generate_bad_arguments_exit_2(
    isolated_env: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    code, _, stderr = run(
        ["generate", str(portrait(PHOTO)), "-o", str(tmp_path / "x.jpg"), "--pack", str(PACK), *extra],
        isolated_env,
    )
    assert code == 2 and message in stderr and "Traceback" not in stderr


def test_pack_info(isolated_env: Path, tmp_path: Path) -> None:
    code, stdout, _ = run(["models", "pack-info", str(PACK), "--json"], isolated_env)
    assert code == 0 and json.loads(stdout)["model_id"] == "headshot-kiosk/tiny-random-sd"
    broken = tmp_path / "broken"
    shutil.copytree(PACK, broken)
    (broken / "styles" / "studio.npy").write_bytes(b"changed")
    code, _, stderr = run(["models", "pack-info", str(broken)], isolated_env)
    assert code == 2 and "sha256" in stderr and "Traceback" not in stderr


@pytest.fixture
def pack_server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    shutil.copytree(PACK, root / "tiny")
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
    assert (isolated_env / "models" / "packs" / "default" / "manifest.json").is_file()
    code, _, stderr = run(["models", "pull", pack_server], isolated_env)
    assert code == 2 and "--force" in stderr
    out = tmp_path / "p.jpg"
    code, stdout, stderr = run(
        ["generate", str(portrait(PHOTO)), "-o", str(out), "--seed", "1"], isolated_env
    )
    assert code == 0 and "generative" in stdout, stdout + stderr


def test_build_engines_needs_a_gpu(isolated_env: Path) -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        code, _, stderr = run(["models", "build-engines", str(PACK)], isolated_env)
        assert code == 2 and "tensorrt" in stderr and "Traceback" not in stderr
        return
    pytest.skip("tensorrt is installed here: the GPU build is exercised in tests/models/runtime")
