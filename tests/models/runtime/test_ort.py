"""ONNX Runtime backend: provider ordering and options, static shapes, real CPU sessions on tiny graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from models.errors import ModelCorrupt, ModelError
from models.runtime import OrtConfig, RuntimeUnavailable, make_runtime
from models.runtime.ort import free_dimension_overrides, resolve_providers, shape_string

PACK = Path(__file__).resolve().parents[2] / "fixtures" / "tiny_pack"
ALL = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
UNET_SHAPES = {"sample": (1, 4, 16, 16), "timestep": (1,), "encoder_hidden_states": (1, 77, 32)}


def test_providers_follow_config_order_and_skip_missing() -> None:
    cfg = OrtConfig(providers=["cuda", "tensorrt", "cpu"])
    assert [n for n, _ in resolve_providers(cfg, ALL)] == [
        "CUDAExecutionProvider",
        "TensorrtExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert [n for n, _ in resolve_providers(OrtConfig(), ["CPUExecutionProvider"])] == [
        "CPUExecutionProvider"
    ]
    assert [n for n, _ in resolve_providers(OrtConfig(), ALL)] == ALL


def test_no_available_provider_is_a_clear_error() -> None:
    with pytest.raises(RuntimeUnavailable, match="onnxruntime-gpu"):
        resolve_providers(OrtConfig(providers=["tensorrt", "cuda"]), ["CPUExecutionProvider"])


def test_tensorrt_provider_gets_caches_fp16_and_static_profile(tmp_path: Path) -> None:
    cfg = OrtConfig(providers=["tensorrt"], fp16=True, device_id=1, workspace_mb=1024)
    [(name, opts)] = resolve_providers(cfg, ALL, tmp_path, UNET_SHAPES)
    assert name == "TensorrtExecutionProvider"
    assert opts["trt_engine_cache_enable"] and opts["trt_timing_cache_enable"]
    assert opts["trt_engine_cache_path"] == str(tmp_path / "trt_engines")
    assert opts["trt_timing_cache_path"] == str(tmp_path / "trt_timing")
    assert opts["trt_fp16_enable"] is True and opts["device_id"] == 1
    assert opts["trt_max_workspace_size"] == 1024 << 20
    profile = "encoder_hidden_states:1x77x32,sample:1x4x16x16,timestep:1"
    assert shape_string(UNET_SHAPES) == profile
    assert (
        opts["trt_profile_min_shapes"]
        == opts["trt_profile_opt_shapes"]
        == opts["trt_profile_max_shapes"]
        == profile
    )


def test_config_rejects_unknown_provider_and_keys() -> None:
    with pytest.raises(ValueError, match="providers"):
        OrtConfig(providers=["directml"])  # type: ignore[list-item]  # reason: testing validation
    with pytest.raises(ValueError, match="Extra inputs"):
        OrtConfig(provider="cpu")  # type: ignore[call-arg]  # reason: testing validation


def test_cpu_session_runs_tiny_unet_and_checks_shapes() -> None:
    rt = make_runtime(OrtConfig(providers=["cpu"]))
    sess = rt.load(PACK / "unet" / "model.onnx", UNET_SHAPES)
    assert sess.device == "cpu"
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal(v).astype(np.float32) for k, v in UNET_SHAPES.items()}
    feeds["timestep"] = np.array([500], dtype=np.int64)  # cast to the graph's float32
    out = sess.run(feeds)["out_sample"]
    assert out.shape == (1, 4, 16, 16) and np.isfinite(out).all() and out.std() > 0
    with pytest.raises(ModelError, match="built for"):
        sess.run({**feeds, "sample": np.zeros((1, 4, 8, 8), np.float32)})
    with pytest.raises(ModelError, match="missing"):
        sess.run({"sample": feeds["sample"]})


def _dynamic_model(path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_free_dimensions_are_pinned_to_the_static_shape(tmp_path: Path) -> None:
    path = tmp_path / "dyn.onnx"
    _dynamic_model(path)
    assert free_dimension_overrides(path, {"x": (2, 3)}) == {"batch": 2}
    sess = make_runtime(OrtConfig(providers=["cpu"])).load(path, {"x": (2, 3)})
    out = sess.run({"x": np.array([[-1, 2, -3], [4, -5, 6]], np.float32)})["y"]
    np.testing.assert_array_equal(out, [[0, 2, 0], [4, 0, 6]])


def test_corrupt_graph_is_model_corrupt(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(ModelCorrupt, match="cannot load"):
        make_runtime(OrtConfig(providers=["cpu"])).load(bad, {})


@pytest.mark.gpu
def test_cuda_provider_runs_with_io_binding() -> None:
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("no CUDA execution provider in this onnxruntime build (no GPU on this machine)")
    rt = make_runtime(OrtConfig(providers=["cuda"]))
    sess = rt.load(PACK / "unet" / "model.onnx", UNET_SHAPES)
    assert sess.device == "cuda"
    cpu = make_runtime(OrtConfig(providers=["cpu"])).load(PACK / "unet" / "model.onnx", UNET_SHAPES)
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal(v).astype(np.float32) for k, v in UNET_SHAPES.items()}
    np.testing.assert_allclose(sess.run(feeds)["out_sample"], cpu.run(feeds)["out_sample"], atol=1e-3)
