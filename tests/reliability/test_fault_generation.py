"""Generation faults from the guest's side: a missing or corrupt model pack, a worker that crashes or hangs.
Whatever happens, the guest gets the studio headshot, declared as digitally edited (not AI), with the reason
recorded; `kiosk models verify` says what to do about a bad pack.

The supervisor's own restart and crash-loop rules are tested in tests/kiosk/generation/test_supervisor.py
(with the same fake workers); here the whole path runs: studio pipeline → generator → delivered JPEG.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiosk.delivery.provenance import encode_delivery, inspect
from kiosk.delivery.provenance_config import ProvenanceConfig
from kiosk.generation.config import GenerationConfig
from kiosk.generation.factory import make_generator
from kiosk.generation.supervisor import SupervisedGenerator
from kiosk.pipeline.generative import GenerativePipeline, GenerativeResult
from kiosk.pipeline.imageio import load_image
from models.runtime import OrtConfig
from tests.kiosk.generation import fake_workers

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "tests" / "fixtures" / "tiny_pack"
PORTRAIT = REPO / ".." / "shared" / "testdata" / "portraits" / "nasa_woman_light_skin_01.png"


def gen_config(**kw: Any) -> GenerationConfig:
    base: dict[str, Any] = {"runtime": OrtConfig(providers=["cpu"]), "start_timeout_s": 60.0, "hang_timeout_s": 20.0}
    base.update(kw)
    return GenerationConfig.model_validate(base)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    if not PORTRAIT.exists():
        pytest.skip(f"test portrait {PORTRAIT} not found (../shared/testdata is absent here)")
    return load_image(PORTRAIT).bgr


def delivered(result: GenerativeResult, tmp_path: Path) -> str | None:
    """The delivered file's declared IPTC source type."""
    out = tmp_path / "delivered.jpg"
    out.write_bytes(encode_delivery(result.image, result.source_type, ProvenanceConfig(), 90, result.description()))
    return inspect(out).xmp_source_type


def assert_studio_result(result: GenerativeResult, reason: str, tmp_path: Path) -> None:
    assert not result.generated and result.fallback_reason is not None
    assert reason in result.fallback_reason.lower(), result.fallback_reason
    assert result.image.shape == result.studio.image.shape and np.array_equal(result.image, result.studio.image)
    assert any("studio result delivered" in n for n in result.notes)
    assert delivered(result, tmp_path) == "algorithmicallyEnhanced", "not declared AI: it is not"


def test_missing_pack_delivers_the_studio_headshot_with_the_reason(
    studio: Any, photo: np.ndarray, tmp_path: Path
) -> None:
    generator, why = make_generator(gen_config(), tmp_path / "models")
    assert generator is None and why is not None
    result = GenerativePipeline(studio, generator, why).headshot(photo, style="studio", fmt="badge")
    assert_studio_result(result, "kiosk models pull", tmp_path)


def test_corrupt_pack_delivers_the_studio_headshot_and_verify_says_what_to_do(
    studio: Any, photo: np.ndarray, tmp_path: Path, isolated_env: Path
) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(PACK, pack)
    with (pack / "unet" / "model.onnx").open("ab") as fh:
        fh.write(b"tampered")
    generator, why = make_generator(gen_config(pack_dir=pack), tmp_path / "models")
    assert generator is not None, why  # the manifest reads fine: the worker finds the damage at load
    try:
        result = GenerativePipeline(studio, generator).headshot(photo, style="studio", fmt="badge")
    finally:
        generator.close()
    assert_studio_result(result, "sha256", tmp_path)
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'data_dir = "{isolated_env}"\n[generation]\npack_dir = "{pack}"\n')
    done = subprocess.run(
        [sys.executable, "-m", "kiosk", "--config", str(cfg), "models", "verify"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "sha256" in done.stdout and "kiosk models pull" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("worker", "limits", "reason"),
    [(fake_workers.crash_on_job, {}, "crashed"), (fake_workers.hang_on_job, {"hang_timeout_s": 0.5}, "hung")],
    ids=["crash", "hang"],
)
def test_worker_crash_or_hang_still_gives_the_guest_the_studio_headshot(
    studio: Any, photo: np.ndarray, tmp_path: Path, worker: Any, limits: dict[str, float], reason: str
) -> None:
    with SupervisedGenerator(PACK, gen_config(max_restarts=5, **limits), target=worker) as gen:
        pipe = GenerativePipeline(studio, gen)
        first = pipe.headshot(photo, style="studio", fmt="badge")
        assert_studio_result(first, reason, tmp_path)
        second = pipe.headshot(photo, style="studio", fmt="badge")  # the next guest: a fresh worker
        assert_studio_result(second, reason, tmp_path)
        assert gen.restart_count == 2 and gen.disabled_reason is None
