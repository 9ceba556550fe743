"""Native TensorRT: cache key and post-build checks (CPU); build + run on a GPU (skipped without one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from models.runtime import Runtime, RuntimeUnavailable, TensorRTConfig, TensorSpec, make_runtime
from models.runtime.tensorrt_native import EngineCheckFailed, check_inputs, check_outputs, engine_cache_key

PACK = Path(__file__).resolve().parents[2] / "fixtures" / "tiny_pack"
SHAPES = {"sample": (1, 4, 16, 16), "timestep": (1,), "encoder_hidden_states": (1, 77, 32)}
BASE = ("a" * 64, "10.3.0", "NVIDIA Orin", "fp16", SHAPES)


def test_cache_key_is_stable_and_order_independent() -> None:
    k1 = engine_cache_key(*BASE)
    k2 = engine_cache_key(BASE[0], BASE[1], BASE[2] + " ", BASE[3], dict(reversed(list(SHAPES.items()))))
    assert k1 == k2 and len(k1) == 32


@pytest.mark.parametrize(
    "changed",
    [
        ("b" * 64, *BASE[1:]),
        (BASE[0], "10.4.0", *BASE[2:]),
        (*BASE[:2], "NVIDIA H100", *BASE[3:]),
        (*BASE[:3], "fp32", BASE[4]),
        (*BASE[:4], {**SHAPES, "sample": (1, 4, 64, 64)}),
    ],
    ids=["onnx", "trt", "gpu", "precision", "shapes"],
)
def test_cache_key_changes_with_every_field(changed: tuple) -> None:
    assert engine_cache_key(*changed) != engine_cache_key(*BASE)


def test_output_check_accepts_real_output_and_rejects_nan_and_constant() -> None:
    good = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float16)
    check_outputs({"sample": good})
    bad = good.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(EngineCheckFailed, match="NaN"):
        check_outputs({"sample": bad})
    with pytest.raises(EngineCheckFailed, match="constant"):
        check_outputs({"sample": np.full((1, 3, 8, 8), -1.0, np.float32)})  # an all-black decoded image
    with pytest.raises(EngineCheckFailed, match="Inf"):
        check_outputs({"x": np.array([1.0, np.inf])})


def test_check_inputs_cover_every_input_at_its_static_shape() -> None:
    specs = {k: TensorSpec(k, v, np.dtype(np.float16)) for k, v in SHAPES.items()}
    feeds = check_inputs(specs, SHAPES)
    assert {k: v.shape for k, v in feeds.items()} == SHAPES
    assert feeds["timestep"].tolist() == [500] and feeds["sample"].dtype == np.float16


def _trt_or_skip(cache: Path) -> Runtime:
    try:
        return make_runtime(TensorRTConfig(cache_dir=cache))
    except RuntimeUnavailable as err:
        pytest.skip(f"native TensorRT cannot run here: {err}")


@pytest.mark.gpu
def test_build_check_cache_and_reload_on_gpu(tmp_path: Path) -> None:
    rt = _trt_or_skip(tmp_path / "engines")
    onnx_path = tmp_path / "unet" / "model.onnx"
    onnx_path.parent.mkdir()
    shutil.copy(PACK / "unet" / "model.onnx", onnx_path)
    sess = rt.load(onnx_path, SHAPES)
    plans = list((tmp_path / "engines").glob("unet-*.plan"))
    assert len(plans) == 1 and rt.built[-1]["built"] is True
    feeds = check_inputs(sess.inputs, SHAPES)
    out = sess.run(feeds)["out_sample"]
    from models.runtime import OrtConfig

    ref = make_runtime(OrtConfig(providers=["cpu"])).load(onnx_path, SHAPES).run(feeds)["out_sample"]
    assert float(np.abs(out.astype(np.float32) - ref).mean()) < 1e-2
    rt.load(onnx_path, SHAPES)
    assert rt.built[-1]["built"] is False, "the second load must come from the cache"
