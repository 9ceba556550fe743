"""The numpy + ONNX Runtime img2img pipeline on the tiny pack against diffusers' own pipeline output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.diffusion.noise import ReplayNoise
from models.diffusion.pack import load_pack
from models.diffusion.pipeline import GenerationCancelled, Img2ImgPipeline
from models.runtime import OrtConfig, make_runtime

HERE = Path(__file__).resolve().parent
PACK_DIR = HERE.parents[1] / "fixtures" / "tiny_pack"
REF = HERE / "reference"
CASES = json.loads((REF / "pipeline_cases.json").read_text())


@pytest.fixture(scope="module")
def pipe() -> Img2ImgPipeline:
    return Img2ImgPipeline(load_pack(PACK_DIR), make_runtime(OrtConfig(providers=["cpu"])))


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_matches_reference_pipeline(pipe: Img2ImgPipeline, case: dict) -> None:
    ref = np.load(REF / f"pipeline_{case['case']}.npz")
    noises = [ref[f"noise_{i}"] for i in range(len([k for k in ref.files if k.startswith("noise_")]))]
    replay = ReplayNoise(noises)
    done: list[tuple[int, int]] = []
    result = pipe(
        ref["image"],
        pipe.pack.style(case["style"]),
        steps=case["steps"],
        strength=case["strength"],
        noise=replay,
        scheduler=pipe.pack.scheduler(case["scheduler"]),
        progress=lambda i, n: done.append((i, n)),
    )
    assert replay.remaining == 0, "the pipeline drew fewer noise arrays than the reference pipeline"
    mae = float(np.abs(result.image - ref["output"]).mean())
    assert mae <= 1e-3, f"MAE {mae:.2e} against diffusers"
    # Not a trivially flat image: the comparison means something.
    assert float(ref["output"].std()) > 0.05
    assert done == [(i + 1, result.steps_run) for i in range(result.steps_run)]


def test_same_seed_same_image_different_seed_different_image(pipe: Img2ImgPipeline) -> None:
    image = np.load(REF / "pipeline_euler_s2.npz")["image"]
    style = pipe.pack.style("studio")
    a = pipe(image, style, seed=3).image
    b = pipe(image, style, seed=3).image
    c = pipe(image, style, seed=4).image
    np.testing.assert_array_equal(a, b)
    assert float(np.abs(a - c).mean()) > 1e-3


def test_cancel_between_steps(pipe: Img2ImgPipeline) -> None:
    image = np.load(REF / "pipeline_euler_s2.npz")["image"]
    seen: list[int] = []
    with pytest.raises(GenerationCancelled, match="step 3 of 4"):
        pipe(
            image,
            pipe.pack.style("studio"),
            steps=4,
            strength=1.0,
            progress=lambda i, n: seen.append(i),
            cancel=lambda: len(seen) >= 2,
        )
    assert seen == [1, 2]


def test_wrong_image_size_is_refused(pipe: Img2ImgPipeline) -> None:
    with pytest.raises(ValueError, match="128×128×3"):
        pipe(np.zeros((64, 64, 3), np.float32), pipe.pack.style("studio"))


def test_timings_cover_the_stages(pipe: Img2ImgPipeline) -> None:
    image = np.load(REF / "pipeline_euler_s2.npz")["image"]
    result = pipe(image, pipe.pack.style("studio"), seed=1)
    assert set(result.timings_ms) >= {"vae_encode", "unet", "vae_decode", "scheduler", "total"}
    assert 0 < result.network_ms <= result.total_ms
