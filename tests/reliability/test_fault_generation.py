"""Generation faults from the guest's side: a missing or corrupt model pack, a worker that crashes or hangs, a
model whose output the quality gate refuses (the tiny random-weight pack built by build-pack). Whatever
happens, the guest gets the studio headshot of every format asked for, declared as digitally edited (not AI),
with the reason recorded; `kiosk models verify` says what to do about a bad pack.

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


def delivered(result: GenerativeResult, fmt: str, tmp_path: Path) -> str | None:
    """The delivered file's declared IPTC source type."""
    out = tmp_path / f"delivered-{fmt}.jpg"
    out.write_bytes(encode_delivery(result.image(fmt), result.source_type, ProvenanceConfig(), 90,
                                    result.description(fmt)))
    return inspect(out).xmp_source_type


def assert_studio_result(result: GenerativeResult, reason: str, tmp_path: Path, formats: tuple[str, ...]) -> None:
    assert not result.generated and result.fallback_reason is not None
    assert reason in result.fallback_reason.lower(), result.fallback_reason
    assert set(result.images) == set(formats)
    for fmt in formats:
        assert np.array_equal(result.image(fmt), result.studio[fmt].image), f"{fmt}: the studio headshot"
        assert result.description(fmt).startswith("Studio headshot")
        assert delivered(result, fmt, tmp_path) == "algorithmicallyEnhanced", "not declared AI: it is not"
    assert result.source_type == "edited"
    assert any("studio result delivered" in n for n in result.notes)


def make(pipe: GenerativePipeline, photo: np.ndarray, formats: tuple[str, ...] = ("badge",)) -> GenerativeResult:
    return pipe.make(photo, style="corporate", formats=list(formats), seed=3)


def test_missing_pack_delivers_the_studio_headshot_with_the_reason(
    studio: Any, photo: np.ndarray, tmp_path: Path
) -> None:
    generator, why = make_generator(gen_config(), tmp_path / "models")
    assert generator is None and why is not None
    result = make(GenerativePipeline(studio, generator, why), photo, ("portrait", "badge"))
    assert_studio_result(result, "kiosk models build-pack", tmp_path, ("portrait", "badge"))
    assert result.gate is None and result.stages == {}, "nothing was generated, nothing was judged"


def test_refused_ai_result_delivers_the_studio_headshot_with_the_gates_reason(
    studio: Any, photo: np.ndarray, tmp_path: Path, tiny_pack: Path
) -> None:
    """The random-weight pack draws noise: the gate refuses it, the guest gets the studio result of each format."""
    generator, why = make_generator(gen_config(pack_dir=tiny_pack), tmp_path / "models")
    assert generator is not None, why
    try:
        result = make(GenerativePipeline(studio, generator), photo, ("portrait", "badge"))
    finally:
        generator.close()
    assert_studio_result(result, "the ai result was refused", tmp_path, ("portrait", "badge"))
    gate = result.gate
    assert gate is not None and not gate.passed and gate.failures
    assert gate.reason is not None and gate.reason in (result.fallback_reason or "")
    assert result.seed == 3 and {"input", "mask", "output"} <= set(result.stages)


def test_corrupt_pack_delivers_the_studio_headshot_and_verify_says_what_to_do(
    studio: Any, photo: np.ndarray, tmp_path: Path, isolated_env: Path, tiny_pack: Path
) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(tiny_pack, pack, ignore=shutil.ignore_patterns("engines"))
    with (pack / "unet" / "model.onnx").open("ab") as fh:
        fh.write(b"tampered")
    generator, why = make_generator(gen_config(pack_dir=pack), tmp_path / "models")
    assert generator is not None, why  # the manifest reads fine: the worker finds the damage at load
    try:
        result = make(GenerativePipeline(studio, generator), photo)
    finally:
        generator.close()
    assert_studio_result(result, "sha256", tmp_path, ("badge",))
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
    assert "sha256" in done.stdout and "kiosk models build-pack" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("worker", "limits", "reason"),
    [(fake_workers.crash_on_job, {}, "crashed"), (fake_workers.hang_on_job, {"hang_timeout_s": 0.5}, "hung")],
    ids=["crash", "hang"],
)
def test_worker_crash_or_hang_still_gives_the_guest_the_studio_headshot(
    studio: Any, photo: np.ndarray, tmp_path: Path, tiny_pack: Path, worker: Any, limits: dict[str, float],
    reason: str,
) -> None:
    with SupervisedGenerator(tiny_pack, gen_config(max_restarts=5, **limits), target=worker) as gen:
        pipe = GenerativePipeline(studio, gen)
        first = make(pipe, photo)
        assert_studio_result(first, reason, tmp_path, ("badge",))
        second = make(pipe, photo)  # the next guest: a fresh worker
        assert_studio_result(second, reason, tmp_path, ("badge",))
        assert gen.restart_count == 2 and gen.disabled_reason is None
