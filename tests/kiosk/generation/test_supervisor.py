"""The supervised generation worker: the real worker on the tiny pack; fakes for hangs and crashes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kiosk.generation.base import GenerationCancelledError, GenerationFailed, GenerationUnavailable
from kiosk.generation.config import GenerationConfig
from kiosk.generation.local import LocalGenerator
from kiosk.generation.supervisor import SupervisedGenerator
from models.runtime import OrtConfig
from tests.kiosk.generation import fake_workers

PACK = Path(__file__).resolve().parents[2] / "fixtures" / "tiny_pack"
CPU = OrtConfig(providers=["cpu"])


def _image() -> np.ndarray:
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32) / 127
    return np.stack([xx, yy, 0.5 * (xx + yy)], axis=-1)


def _cfg(**kw: object) -> GenerationConfig:
    base: dict[str, object] = {"runtime": CPU, "start_timeout_s": 60.0, "hang_timeout_s": 20.0}
    base.update(kw)
    return GenerationConfig.model_validate(base)


@pytest.fixture(scope="module")
def worker() -> SupervisedGenerator:
    gen = SupervisedGenerator(PACK, _cfg())
    gen.start()
    yield gen
    gen.close()


def test_real_worker_matches_in_process_generation(worker: SupervisedGenerator) -> None:
    steps: list[tuple[int, int]] = []
    out = worker.generate(
        _image(), "studio", seed=7, steps=4, strength=0.75, progress=lambda i, n: steps.append((i, n))
    )
    assert steps == [(1, 3), (2, 3), (3, 3)]
    local = LocalGenerator(PACK, CPU, warm_up=False).generate(_image(), "studio", seed=7, steps=4, strength=0.75)
    np.testing.assert_array_equal(out.image, local.image)
    assert worker.info["model_id"] == "headshot-kiosk/tiny-random-sd"
    assert worker.in_flight_since is None


def test_cancel_then_the_worker_serves_the_next_job(worker: SupervisedGenerator) -> None:
    seen: list[int] = []
    with pytest.raises(GenerationCancelledError):
        worker.generate(
            _image(),
            "studio",
            seed=1,
            steps=20,
            strength=1.0,
            progress=lambda i, n: seen.append(i),
            cancel=lambda: len(seen) >= 1,
        )
    assert len(seen) < 20
    pid = worker.pid
    assert worker.generate(_image(), "office", seed=1).steps_run == 1
    assert worker.pid == pid


def test_bad_job_is_an_error_not_a_restart(worker: SupervisedGenerator) -> None:
    pid = worker.pid
    with pytest.raises(GenerationFailed, match="strength"):
        worker.generate(_image(), "studio", seed=1, strength=0.0001, steps=2)
    assert worker.pid == pid


def test_crash_restarts_then_crash_loop_disables() -> None:
    with SupervisedGenerator(PACK, _cfg(max_restarts=1), target=fake_workers.crash_on_job) as gen:
        with pytest.raises(GenerationFailed, match="crashed"):
            gen.generate(_image(), "studio", seed=1)
        assert gen.restart_count == 1 and gen.disabled_reason is None
        with pytest.raises(GenerationFailed, match="crashed"):
            gen.generate(_image(), "studio", seed=1)
        assert gen.disabled_reason is not None and "failed 2 times" in gen.disabled_reason
        with pytest.raises(GenerationUnavailable, match="generation is off"):
            gen.generate(_image(), "studio", seed=1)


def test_hung_worker_is_killed_and_replaced() -> None:
    with SupervisedGenerator(PACK, _cfg(hang_timeout_s=0.5), target=fake_workers.hang_on_job) as gen:
        gen.start()
        first = gen.pid
        with pytest.raises(GenerationFailed, match="hung"):
            gen.generate(_image(), "studio", seed=1)
        assert gen.pid is not None and gen.pid != first
        assert gen.restart_count == 1


def test_progress_keeps_a_slow_job_alive() -> None:
    with SupervisedGenerator(PACK, _cfg(hang_timeout_s=2.0), target=fake_workers.slow_but_alive) as gen:
        out = gen.generate(_image(), "studio", seed=1)
        assert out.steps_run == 20 and gen.restart_count == 0


def test_job_timeout() -> None:
    cfg = _cfg(hang_timeout_s=5.0, job_timeout_s=1.0)  # the fake job takes 4 s
    with (
        SupervisedGenerator(PACK, cfg, target=fake_workers.slow_but_alive) as gen,
        pytest.raises(GenerationFailed, match="longer than 1 s"),
    ):
        gen.generate(_image(), "studio", seed=1)


def test_start_failure_disables_with_the_reason() -> None:
    with SupervisedGenerator(PACK, _cfg(), target=fake_workers.fail_at_start) as gen:
        with pytest.raises(GenerationUnavailable, match="no such device"):
            gen.start()
        with pytest.raises(GenerationUnavailable, match="no such device"):
            gen.generate(_image(), "studio", seed=1)


def test_corrupt_pack_is_reported_by_the_real_worker(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(PACK, pack)
    with (pack / "unet" / "model.onnx").open("ab") as fh:
        fh.write(b"tampered")
    with SupervisedGenerator(pack, _cfg()) as gen, pytest.raises(GenerationUnavailable, match="sha256"):
        gen.start()


def test_idle_watchdog_restarts_a_dead_worker() -> None:
    with SupervisedGenerator(PACK, _cfg(max_restarts=5), target=fake_workers.exit_when_idle) as gen:
        gen.start()
        first = gen.pid
        assert gen._proc is not None
        gen._proc.join(10.0)  # the fake exits right after reporting ready
        assert gen.check() is True
        assert gen.pid != first and gen.restart_count == 1


def test_factory_reports_why_there_is_no_generator(tmp_path: Path) -> None:
    from kiosk.generation.factory import make_generator

    gen, why = make_generator(_cfg(enabled=False), tmp_path)
    assert gen is None and "disabled" in (why or "")
    gen, why = make_generator(_cfg(), tmp_path)
    assert gen is None and "kiosk models pull" in (why or "")
    (tmp_path / "packs" / "default").mkdir(parents=True)
    (tmp_path / "packs" / "default" / "manifest.json").write_text("{}")
    gen, why = make_generator(_cfg(), tmp_path)
    assert gen is None and "cannot be used" in (why or "")
    gen, why = make_generator(_cfg(pack_dir=PACK), tmp_path)
    assert isinstance(gen, SupervisedGenerator) and why is None and gen.pid is None
