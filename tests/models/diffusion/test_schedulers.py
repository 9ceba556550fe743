"""The numpy schedulers against reference-library values (scripts/make_reference_values.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.diffusion.noise import ReplayNoise, SeededNoise
from models.diffusion.schedulers import SCHEDULERS, SchedulerConfigError, make_scheduler

REF = Path(__file__).resolve().parent / "reference" / "schedulers.json"
CASES: list[dict[str, Any]] = json.loads(REF.read_text())["cases"]


def _id(case: dict[str, Any]) -> str:
    spacing = case["config"].get("timestep_spacing", "-")
    pred = case["config"].get("prediction_type", "eps")
    return f"{case['scheduler']}-{spacing}-{pred}-n{case['steps']}-s{case['strength']}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_schedule_and_steps_match_reference(case: dict[str, Any]) -> None:
    sched = make_scheduler(case["scheduler"], case["config"])
    timesteps, t_start = sched.img2img_timesteps(case["steps"], case["strength"])
    assert t_start == case["t_start"]
    np.testing.assert_array_equal(np.asarray(timesteps, dtype=np.float64), case["timesteps"])
    np.testing.assert_array_equal(np.asarray(sched.timesteps, dtype=np.float64), case["all_timesteps"])
    if "sigmas" in case:
        np.testing.assert_allclose(sched.sigmas, case["sigmas"], rtol=1e-6, atol=1e-7)
    assert sched.init_noise_sigma == pytest.approx(case["init_noise_sigma"], rel=1e-6)

    x0 = np.asarray(case["x0"], dtype=np.float32)
    noise = np.asarray(case["noise"], dtype=np.float32)
    sample = sched.add_noise(x0, noise, float(timesteps[0]))
    np.testing.assert_allclose(sample, case["noisy"], rtol=1e-5, atol=1e-5)
    sample = np.asarray(case["noisy"], dtype=np.float32)
    for t, ref in zip(timesteps, case["steps_out"], strict=True):
        assert float(t) == ref["t"]
        np.testing.assert_allclose(
            sched.scale_model_input(sample, float(t)), ref["scaled_input"], rtol=1e-5, atol=1e-6
        )
        replay = ReplayNoise([np.asarray(ref["step_noise"], dtype=np.float32)] if ref["step_noise"] else [])
        out = sched.step(np.asarray(ref["model_output"], dtype=np.float32), float(t), sample, replay)
        assert replay.remaining == 0, "the scheduler drew fewer noise arrays than the reference"
        np.testing.assert_allclose(out, ref["prev_sample"], rtol=1e-5, atol=2e-5)
        sample = np.asarray(ref["prev_sample"], dtype=np.float32)


def test_every_scheduler_is_covered_by_reference_values() -> None:
    assert {c["scheduler"] for c in CASES} == set(SCHEDULERS)


def test_trailing_euler_single_step_is_sd_turbo_schedule() -> None:
    sched = make_scheduler(
        "euler",
        {
            "timestep_spacing": "trailing",
            "beta_schedule": "scaled_linear",
            "beta_start": 0.00085,
            "beta_end": 0.012,
        },
    )
    timesteps, _ = sched.img2img_timesteps(2, 0.5)
    assert list(timesteps) == [499.0]


def test_strength_too_low_for_steps_is_refused() -> None:
    sched = make_scheduler("euler", {"timestep_spacing": "trailing"})
    with pytest.raises(ValueError, match="no denoising step"):
        sched.img2img_timesteps(2, 0.4)


def test_bad_strength_and_steps_are_refused() -> None:
    sched = make_scheduler("lcm", {})
    with pytest.raises(ValueError, match="strength"):
        sched.img2img_timesteps(4, 1.5)
    with pytest.raises(ValueError, match="original_inference_steps"):
        sched.img2img_timesteps(60, 1.0)


@pytest.mark.parametrize(
    ("name", "config", "match"),
    [
        ("euler", {"use_karras_sigmas": True}, "use_karras_sigmas"),
        ("euler", {"some_new_knob": 3}, "unknown config key 'some_new_knob'"),
        ("euler", {"timestep_spacing": "sideways"}, "timestep_spacing"),
        ("lcm", {"thresholding": True}, "thresholding"),
        ("ddim", {}, "unknown scheduler"),
        ("euler", {"beta_schedule": "sigmoid"}, "beta_schedule"),
    ],
)
def test_unsupported_config_is_a_clear_error(name: str, config: dict[str, Any], match: str) -> None:
    with pytest.raises(SchedulerConfigError, match=match):
        sched = make_scheduler(name, config)
        sched.set_timesteps(4)


def test_cross_family_config_keeps_only_known_keys() -> None:
    euler_cfg = {
        "_class_name": "EulerDiscreteScheduler",
        "timestep_spacing": "trailing",
        "use_karras_sigmas": False,
        "interpolation_type": "linear",
        "beta_schedule": "scaled_linear",
    }
    lcm = make_scheduler("lcm", euler_cfg)
    assert lcm.config["beta_schedule"] == "scaled_linear"
    anc = make_scheduler("euler_ancestral", euler_cfg)
    assert anc.config["timestep_spacing"] == "trailing"


def test_seeded_noise_is_reproducible() -> None:
    a = SeededNoise(5).draw((2, 3))
    b = SeededNoise(5).draw((2, 3))
    c = SeededNoise(6).draw((2, 3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32


def test_replay_noise_checks_shape_and_count() -> None:
    replay = ReplayNoise([np.zeros((1, 2))])
    with pytest.raises(ValueError, match="shape"):
        replay.draw((2, 2))
    replay.draw((1, 2))
    with pytest.raises(ValueError, match="exhausted"):
        replay.draw((1, 2))
