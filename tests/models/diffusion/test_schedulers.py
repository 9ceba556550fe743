"""The numpy schedulers against the reference library: Euler and Euler-ancestral against recorded values,
LCM live against diffusers' own LCMScheduler.

reference/schedulers.json holds values recorded from diffusers (version in the file). Its LCM cases were
recorded with the plain img2img rule (start step from steps × strength), which is not what diffusers'
LatentConsistencyModelImg2ImgPipeline runs: that pipeline hands the strength to LCMScheduler.set_timesteps
and runs every step of the shortened consistency schedule. Those cases are not used; LCM is compared live
(torch and diffusers come with the export extra that the test command installs).
"""

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
LIVE = {"lcm"}  # compared against the reference library at test time, not against recorded values
LCM_BASE: dict[str, Any] = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                            "num_train_timesteps": 1000}


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
    assert {c["scheduler"] for c in CASES} | LIVE == set(SCHEDULERS)
    assert not {c["scheduler"] for c in CASES} & LIVE


def _diffusers() -> tuple[Any, Any]:
    torch = pytest.importorskip("torch", reason="torch comes with the export extra (./run.sh test installs it)")
    diffusers = pytest.importorskip("diffusers", reason="diffusers comes with the export extra")
    return torch, diffusers


@pytest.mark.parametrize(
    ("config", "steps", "strength"),
    [
        ({}, 4, 0.5),
        ({}, 4, 0.75),
        ({}, 4, 1.0),
        ({}, 2, 0.8),
        ({}, 8, 0.6),
        ({}, 1, 1.0),
        ({}, 1, 0.3),
        ({}, 3, 0.55),
        ({"original_inference_steps": 100, "timestep_scaling": 5.0}, 6, 0.7),
        ({"prediction_type": "v_prediction"}, 4, 0.5),
        ({"prediction_type": "sample"}, 3, 0.9),
        ({"set_alpha_to_one": False, "steps_offset": 1}, 4, 0.5),
    ],
)
def test_lcm_img2img_matches_diffusers_live(config: dict[str, Any], steps: int, strength: float) -> None:
    """Schedule, forward noising and every consistency step, as LatentConsistencyModelImg2ImgPipeline runs them."""
    torch, diffusers = _diffusers()
    cfg = {**LCM_BASE, **config}
    ref = diffusers.LCMScheduler(**cfg)
    ref.set_timesteps(steps, strength=strength)  # the LCM img2img pipeline passes the strength here
    ours = make_scheduler("lcm", cfg)
    timesteps, t_start = ours.img2img_timesteps(steps, strength)
    assert t_start == 0, "every step of the shortened consistency schedule runs"
    assert len(timesteps) == steps
    assert timesteps.tolist() == ref.timesteps.tolist()
    assert ours.init_noise_sigma == pytest.approx(float(ref.init_noise_sigma))

    rng = np.random.default_rng(steps * 100 + round(strength * 100))
    shape = (1, 4, 8, 8)
    x0, first = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    ref_sample = ref.add_noise(torch.from_numpy(x0), torch.from_numpy(first), ref.timesteps[:1])
    sample = ours.add_noise(x0, first, float(timesteps[0]))
    np.testing.assert_allclose(sample, ref_sample.numpy(), rtol=1e-5, atol=1e-6)

    ref_gen = torch.Generator().manual_seed(11)
    our_gen = torch.Generator().manual_seed(11)  # the same draws, replayed into the numpy scheduler
    for i, t in enumerate(ref.timesteps):
        model_output = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(ours.scale_model_input(sample, float(t)), sample)
        ref_prev, ref_denoised = ref.step(torch.from_numpy(model_output), t, ref_sample, generator=ref_gen,
                                          return_dict=False)
        last = i == steps - 1
        replay = ReplayNoise([] if last else [torch.randn(shape, generator=our_gen, dtype=torch.float32).numpy()])
        prev = ours.step(model_output, float(t), sample, replay)
        assert replay.remaining == 0, "the scheduler drew fewer noise arrays than the reference"
        np.testing.assert_allclose(prev, ref_prev.numpy(), rtol=1e-5, atol=2e-5)
        if last:  # the pipeline decodes the last step's denoised sample
            np.testing.assert_allclose(prev, ref_denoised.numpy(), rtol=1e-5, atol=2e-5)
        ref_sample, sample = ref_prev, ref_prev.numpy()


def test_lcm_schedule_too_short_for_the_steps_is_refused_like_diffusers() -> None:
    _, diffusers = _diffusers()
    with pytest.raises(ValueError, match="original_steps x strength"):
        diffusers.LCMScheduler(**LCM_BASE).set_timesteps(4, strength=0.05)
    with pytest.raises(ValueError, match="too short a schedule"):
        make_scheduler("lcm", LCM_BASE).img2img_timesteps(4, 0.05)


def test_lcm_img2img_schedule_of_the_lcm_pipeline() -> None:
    """The values of issue 11, known without torch: 4 steps at 0.5 run 499, 379, 259, 139 (not 499, 259)."""
    sched = make_scheduler("lcm", LCM_BASE)
    assert sched.img2img_timesteps(4, 0.5)[0].tolist() == [499, 379, 259, 139]
    assert sched.img2img_timesteps(4, 1.0)[0].tolist() == [999, 759, 499, 259]
    assert sched.img2img_timesteps(4, 0.75)[0].tolist() == [739, 559, 379, 199]


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
