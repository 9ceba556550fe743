"""The supervised generation worker: the real worker on the tiny pack built by build-pack; fakes for hangs
and crashes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kiosk.generation.base import GenerationCancelledError, GenerationFailed, GenerationUnavailable
from kiosk.generation.config import GenerationConfig
from kiosk.generation.local import LocalGenerator
from kiosk.generation.supervisor import SupervisedGenerator
from models.diffusion.pack import STAMP
from models.runtime import OrtConfig
from tests.conftest import TINY_SIZE
from tests.kiosk.generation import fake_workers

CPU = OrtConfig(providers=["cpu"])
W, H = TINY_SIZE


def _image() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.stack([xx / (W - 1), yy / (H - 1), 0.5 * (xx / (W - 1) + yy / (H - 1))], axis=-1)


def _mask() -> np.ndarray:
    """1 (regenerate) outside an upright ellipse, like the backdrop around a head."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return (((xx - W / 2) / (W * 0.3)) ** 2 + ((yy - H * 0.4) / (H * 0.3)) ** 2 >= 1).astype(np.float32)


def _cfg(**kw: object) -> GenerationConfig:
    base: dict[str, object] = {"runtime": CPU, "start_timeout_s": 120.0, "hang_timeout_s": 30.0}
    base.update(kw)
    return GenerationConfig.model_validate(base)


@pytest.fixture(scope="module")
def worker(tiny_pack: Path) -> Iterator[SupervisedGenerator]:
    gen = SupervisedGenerator(tiny_pack, _cfg())
    gen.start()
    yield gen
    gen.close()


def _pack_copy(tiny_pack: Path, tmp_path: Path) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(tiny_pack, pack, ignore=shutil.ignore_patterns("engines"))
    return pack


def test_real_worker_matches_in_process_generation(worker: SupervisedGenerator, tiny_pack: Path) -> None:
    assert worker.size == TINY_SIZE
    steps: list[tuple[int, int]] = []
    out = worker.generate(_image(), "corporate", mask=_mask(), seed=7, steps=4, strength=0.75,
                          progress=lambda i, n: steps.append((i, n)))
    assert steps == [(1, 3), (2, 3), (3, 3)], "Euler img2img at 0.75 runs 3 of 4 steps, each reported"
    assert out.image.shape == (H, W, 3) and out.steps_run == 3 and out.seed == 7
    local = LocalGenerator(tiny_pack, CPU, warm_up=False)
    same = local.generate(_image(), "corporate", mask=_mask(), seed=7, steps=4, strength=0.75)
    np.testing.assert_array_equal(out.image, same.image)
    unmasked = local.generate(_image(), "corporate", seed=7, steps=4, strength=0.75)
    assert not np.array_equal(out.image, unmasked.image), "the mask reached the worker's pipeline"
    assert worker.info["model_id"] == "tiny_diffusers" and worker.info["precision"] == "fp32"
    assert worker.info["runtime"]["backend"] == "ort" and worker.info["runtime"]["notes"] == []
    assert worker.in_flight_since is None


def test_cancel_then_the_worker_serves_the_next_job(worker: SupervisedGenerator) -> None:
    seen: list[int] = []
    with pytest.raises(GenerationCancelledError):
        worker.generate(
            _image(),
            "corporate",
            seed=1,
            steps=20,
            strength=1.0,
            progress=lambda i, n: seen.append(i),
            cancel=lambda: len(seen) >= 1,
        )
    assert 1 <= len(seen) < 20
    pid = worker.pid
    assert worker.generate(_image(), "executive", seed=1).steps_run == 3  # the pack's 4 steps at 0.75
    assert worker.pid == pid


@pytest.mark.parametrize(
    ("job", "match"),
    [
        ({"strength": 0.0001, "steps": 2}, "strength"),
        ({"style": "disco"}, "choose one of: corporate"),
        ({"mask": np.ones((8, 8), np.float32)}, "mask must be"),
        ({"image": np.zeros((64, 64, 3), np.float32)}, "image must be"),
    ],
    ids=["strength", "style", "mask", "image"],
)
def test_bad_job_is_an_error_not_a_restart(worker: SupervisedGenerator, job: dict, match: str) -> None:
    pid = worker.pid
    args = {"style": "corporate", "image": _image(), **job}
    with pytest.raises(GenerationFailed, match=match):
        worker.generate(args.pop("image"), args.pop("style"), seed=1, **args)
    assert worker.pid == pid and worker.restart_count == 0


def test_crash_restarts_then_crash_loop_disables(tiny_pack: Path) -> None:
    with SupervisedGenerator(tiny_pack, _cfg(max_restarts=1), target=fake_workers.crash_on_job) as gen:
        with pytest.raises(GenerationFailed, match="crashed"):
            gen.generate(_image(), "corporate", seed=1)
        assert gen.restart_count == 1 and gen.disabled_reason is None
        with pytest.raises(GenerationFailed, match="crashed"):
            gen.generate(_image(), "corporate", seed=1)
        assert gen.disabled_reason is not None and "failed 2 times" in gen.disabled_reason
        with pytest.raises(GenerationUnavailable, match="generation is off"):
            gen.generate(_image(), "corporate", seed=1)


def test_hung_worker_is_killed_and_replaced(tiny_pack: Path) -> None:
    with SupervisedGenerator(tiny_pack, _cfg(hang_timeout_s=0.5), target=fake_workers.hang_on_job) as gen:
        gen.start()
        first = gen.pid
        with pytest.raises(GenerationFailed, match="hung"):
            gen.generate(_image(), "corporate", seed=1)
        assert gen.pid is not None and gen.pid != first
        assert gen.restart_count == 1


def test_progress_keeps_a_slow_job_alive(tiny_pack: Path) -> None:
    with SupervisedGenerator(tiny_pack, _cfg(hang_timeout_s=2.0), target=fake_workers.slow_but_alive) as gen:
        out = gen.generate(_image(), "corporate", seed=1)
        assert out.steps_run == 20 and gen.restart_count == 0


def test_job_timeout(tiny_pack: Path) -> None:
    cfg = _cfg(hang_timeout_s=5.0, job_timeout_s=1.0)  # the fake job takes 4 s
    with (
        SupervisedGenerator(tiny_pack, cfg, target=fake_workers.slow_but_alive) as gen,
        pytest.raises(GenerationFailed, match="longer than 1 s"),
    ):
        gen.generate(_image(), "corporate", seed=1)


def test_start_failure_disables_with_the_reason(tiny_pack: Path) -> None:
    with SupervisedGenerator(tiny_pack, _cfg(), target=fake_workers.fail_at_start) as gen:
        with pytest.raises(GenerationUnavailable, match="no such device"):
            gen.start()
        with pytest.raises(GenerationUnavailable, match="no such device"):
            gen.generate(_image(), "corporate", seed=1)


def test_corrupt_pack_is_reported_by_the_real_worker(tiny_pack: Path, tmp_path: Path) -> None:
    pack = _pack_copy(tiny_pack, tmp_path)
    assert (pack / STAMP).is_file(), "the copy carries the stamp of the last full check"
    with (pack / "unet" / "model.onnx_data").open("ab") as fh:
        fh.write(b"tampered")  # the size changed: the start-up stamp check hashes, and finds it
    with SupervisedGenerator(pack, _cfg()) as gen, pytest.raises(GenerationUnavailable, match="sha256"):
        gen.start()


def test_missing_graph_file_is_reported_by_the_real_worker(tiny_pack: Path, tmp_path: Path) -> None:
    pack = _pack_copy(tiny_pack, tmp_path)
    (pack / "vae_decoder" / "model.onnx_data").unlink()
    with (
        SupervisedGenerator(pack, _cfg()) as gen,
        pytest.raises(GenerationUnavailable, match=r"missing file 'vae_decoder/model\.onnx_data'"),
    ):
        gen.start()
    assert gen.disabled_reason is not None and gen.pid is None


def test_idle_watchdog_restarts_a_dead_worker(tiny_pack: Path) -> None:
    with SupervisedGenerator(tiny_pack, _cfg(max_restarts=5), target=fake_workers.exit_when_idle) as gen:
        gen.start()
        first = gen.pid
        assert gen._proc is not None
        gen._proc.join(30.0)  # the fake exits right after reporting ready
        assert gen.check() is True
        assert gen.pid != first and gen.restart_count == 1


def test_factory_reports_why_there_is_no_generator(tiny_pack: Path, tmp_path: Path) -> None:
    from kiosk.generation.factory import make_generator

    gen, why = make_generator(_cfg(enabled=False), tmp_path)
    assert gen is None and "disabled" in (why or "")
    gen, why = make_generator(_cfg(), tmp_path)
    assert gen is None and "no model pack installed" in (why or "") and "kiosk models build-pack" in (why or "")
    default = tmp_path / "packs" / "default"
    default.mkdir(parents=True)
    (default / "manifest.json").write_text("{}")
    gen, why = make_generator(_cfg(), tmp_path)
    assert gen is None and "cannot be used" in (why or "")
    old = json.loads((tiny_pack / "manifest.json").read_text())
    (default / "manifest.json").write_text(json.dumps({**old, "format": "headshot-kiosk-pack/1"}))
    gen, why = make_generator(_cfg(), tmp_path)
    assert gen is None and "rebuild it with `kiosk models build-pack`" in (why or "")
    gen, why = make_generator(_cfg(pack_dir=tiny_pack), tmp_path)
    assert isinstance(gen, SupervisedGenerator) and why is None and gen.pid is None
    assert gen.size == TINY_SIZE
