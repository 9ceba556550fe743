"""ONNX Runtime backend: provider ordering and options, the TensorRT EP's engine markers and fallbacks, static
shapes, real CPU sessions on tiny graphs.

No GPU is here: the provider choice is exercised with this CPU build's real ONNX Runtime and a list of
"available" providers set on the runtime, which is what the choice reads. ONNX Runtime itself then meets a
provider it lacks the way it meets one that fails to start on a GPU machine: it runs on the CPU, and the
runtime must say so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from models.diffusion.pack import Pack, load_pack
from models.errors import ModelCorrupt, ModelError
from models.runtime import OrtConfig, RuntimeUnavailable, TensorSpec, make_runtime
from models.runtime.base import prepare_feeds
from models.runtime.ort import OrtRuntime, free_dimension_overrides, resolve_providers, shape_string

ALL = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
TRT, CUDA, CPU = ALL


@pytest.fixture(scope="module")
def pack(tiny_pack: Path) -> Pack:
    return load_pack(tiny_pack, verify="none")


def _runtime(config: OrtConfig, available: list[str], engines: Path | None, allow_build: bool = False) -> OrtRuntime:
    rt = make_runtime(config, engine_dir=engines, allow_build=allow_build)
    assert isinstance(rt, OrtRuntime)
    rt.available = available  # what this onnxruntime build would list on a GPU machine
    return rt


def _unet(rt: OrtRuntime, pack: Pack) -> tuple[object, Path | None]:
    shapes, digests = pack.static_shapes("unet"), pack.graph_digests("unet")
    marker = rt.engine_marker(pack.graph("unet"), shapes, digests)
    return rt.load(pack.graph("unet"), shapes, digests=digests), marker


def test_providers_follow_config_order_and_skip_missing() -> None:
    cfg = OrtConfig(providers=["cuda", "tensorrt", "cpu"])
    assert [n for n, _ in resolve_providers(cfg, ALL)] == [CUDA, TRT, CPU]
    assert [n for n, _ in resolve_providers(OrtConfig(), [CPU])] == [CPU]
    assert [n for n, _ in resolve_providers(OrtConfig(), ALL)] == ALL
    assert [n for n, _ in resolve_providers(OrtConfig(providers=["cpu", "cpu"]), ALL)] == [CPU]


def test_no_available_provider_is_a_clear_error() -> None:
    with pytest.raises(RuntimeUnavailable, match="onnxruntime-gpu"):
        resolve_providers(OrtConfig(providers=["tensorrt", "cuda"]), [CPU])


def test_tensorrt_provider_options_strongly_typed_caches_and_static_profile(tmp_path: Path,
                                                                            pack: Pack) -> None:
    shapes = pack.static_shapes("unet")
    cfg = OrtConfig(providers=["tensorrt"], fp16=True, device_id=1, workspace_mb=1024)
    [(name, opts)] = resolve_providers(cfg, ALL, tmp_path, shapes)
    assert name == TRT
    assert opts["trt_fp16_enable"] is False, "precision is in the graph (strongly typed), even with fp16 on"
    assert opts["trt_engine_cache_enable"] and opts["trt_timing_cache_enable"]
    assert opts["trt_engine_cache_path"] == opts["trt_timing_cache_path"] == str(tmp_path / "ort-trt")
    assert opts["device_id"] == 1 and opts["trt_max_workspace_size"] == 1024 << 20
    profile = "encoder_hidden_states:1x77x32,sample:1x4x20x16,timestep:1"
    assert shape_string(shapes) == profile
    assert opts["trt_profile_min_shapes"] == opts["trt_profile_opt_shapes"] == opts["trt_profile_max_shapes"] == profile
    [(_, no_cache)] = resolve_providers(cfg, ALL, None, shapes)
    assert "trt_engine_cache_path" not in no_cache and no_cache["trt_fp16_enable"] is False
    [(_, cuda)] = resolve_providers(OrtConfig(providers=["cuda"], device_id=2), ALL, tmp_path, shapes)
    assert cuda == {"device_id": 2, "cudnn_conv_algo_search": "HEURISTIC"}


def test_the_cache_is_the_packs_engines_folder_unless_configured(tmp_path: Path) -> None:
    assert make_runtime(OrtConfig(), engine_dir=tmp_path / "engines").engine_dir == tmp_path / "engines"
    configured = OrtConfig(cache_dir=tmp_path / "elsewhere")
    assert make_runtime(configured, engine_dir=tmp_path / "engines").engine_dir == tmp_path / "elsewhere"


def test_fp16_graphs_only_where_a_gpu_provider_is_configured_and_present(tmp_path: Path) -> None:
    assert _runtime(OrtConfig(), ALL, tmp_path).prefers_fp16
    assert _runtime(OrtConfig(), [CUDA, CPU], tmp_path).prefers_fp16
    assert not _runtime(OrtConfig(fp16=False), ALL, tmp_path).prefers_fp16
    assert not _runtime(OrtConfig(), [CPU], tmp_path).prefers_fp16
    assert not _runtime(OrtConfig(providers=["cpu"]), ALL, tmp_path).prefers_fp16


def test_tensorrt_without_a_built_engine_goes_on_with_the_next_provider_and_says_so(
    tmp_path: Path, pack: Pack
) -> None:
    rt = _runtime(OrtConfig(providers=["tensorrt", "cpu"]), [TRT, CPU], tmp_path / "engines")
    sess, marker = _unet(rt, pack)
    assert marker is not None and not marker.exists()
    assert sess.device == "cpu"  # type: ignore[attr-defined]  # reason: GraphSession attribute
    assert rt.loaded == [{"graph": "unet", "provider": CPU, "requested": CPU}]
    assert not (tmp_path / "engines").exists(), "no TensorRT run: nothing written beside the pack"
    [note] = rt.notes
    assert "TensorRT engine for unet is not built here" in note
    assert "kiosk models build-engines --backend ort" in note
    assert rt.describe()["notes"] == [note]
    _unet(rt, pack)
    assert len(rt.notes) == 1, "the same note once"


def test_tensorrt_alone_without_an_engine_is_unavailable_naming_build_engines(tmp_path: Path, pack: Pack) -> None:
    rt = _runtime(OrtConfig(providers=["tensorrt"]), [TRT, CPU], tmp_path / "engines")
    with pytest.raises(RuntimeUnavailable, match="kiosk models build-engines --backend ort"):
        _unet(rt, pack)


def test_no_cache_folder_means_no_engine_and_the_next_provider(pack: Pack) -> None:
    rt = _runtime(OrtConfig(providers=["tensorrt", "cpu"]), [TRT, CPU], None)
    sess, marker = _unet(rt, pack)
    assert marker is None and sess.device == "cpu"  # type: ignore[attr-defined]  # reason: as above
    assert rt.notes and "not built here" in rt.notes[0]


def test_with_a_marker_tensorrt_is_asked_for_and_a_provider_that_does_not_start_is_reported(
    tmp_path: Path, pack: Pack
) -> None:
    rt = _runtime(OrtConfig(providers=["tensorrt", "cpu"]), [TRT, CPU], tmp_path / "engines")
    marker = rt.engine_marker(pack.graph("unet"), pack.static_shapes("unet"), pack.graph_digests("unet"))
    assert marker is not None and marker.parent == tmp_path / "engines" / "ort-trt"
    marker.parent.mkdir(parents=True)
    marker.write_text("built\n")
    with pytest.warns(UserWarning, match="TensorrtExecutionProvider"):  # this build has no TensorRT EP
        sess, _ = _unet(rt, pack)
    assert sess.device == "cpu"  # type: ignore[attr-defined]  # reason: as above
    assert rt.loaded == [{"graph": "unet", "provider": CPU, "requested": TRT}]
    assert rt.notes == [f"{TRT} did not start for unet: running on {CPU}"], "never a silent fallback"


def test_build_engines_leaves_no_marker_when_tensorrt_did_not_run(tmp_path: Path, pack: Pack) -> None:
    rt = _runtime(OrtConfig(providers=["tensorrt"]), [TRT, CPU], tmp_path / "engines", allow_build=True)
    with pytest.warns(UserWarning, match="TensorrtExecutionProvider"):
        _, marker = _unet(rt, pack)
    assert marker is not None and not marker.exists()
    assert marker.parent.is_dir(), "the TensorRT EP was asked for: its cache folder is ready"
    assert rt.notes == [f"{TRT} did not start for unet: running on {CPU}"]


def test_engine_marker_is_keyed_by_every_file_of_the_graph(tmp_path: Path, pack: Pack) -> None:
    rt = _runtime(OrtConfig(), ALL, tmp_path)
    onnx_path, shapes = pack.graph("unet"), pack.static_shapes("unet")
    digests = pack.graph_digests("unet")
    base = rt.engine_marker(onnx_path, shapes, digests)
    assert base is not None and base.name.startswith("unet-") and base.suffix == ".ready"
    assert rt.engine_marker(onnx_path, shapes, dict(digests)) == base
    other_weights = {**digests, "unet/model.onnx_data": "0" * 64}
    assert rt.engine_marker(onnx_path, shapes, other_weights) != base, "new weights, new engine"
    assert rt.engine_marker(onnx_path, {**shapes, "sample": (1, 4, 40, 32)}, digests) != base


def test_cpu_session_runs_the_tiny_unet_and_checks_shapes(pack: Pack) -> None:
    shapes = pack.static_shapes("unet")
    rt = make_runtime(OrtConfig(providers=["cpu"]))
    sess = rt.load(pack.graph("unet"), shapes, digests=pack.graph_digests("unet"))  # weights in model.onnx_data
    assert sess.device == "cpu" and rt.notes == []
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal(v).astype(np.float32) for k, v in shapes.items()}
    feeds["timestep"] = np.array([500], dtype=np.int64)  # cast to the graph's float32
    out = sess.run(feeds)["out_sample"]
    assert out.shape == shapes["sample"] and np.isfinite(out).all() and out.std() > 0
    with pytest.raises(ModelError, match="built for"):
        sess.run({**feeds, "sample": np.zeros((1, 4, 8, 8), np.float32)})
    with pytest.raises(ModelError, match="missing"):
        sess.run({"sample": feeds["sample"]})


def test_fp16_unet_graph_runs_on_the_cpu_with_float32_feeds(pack: Pack) -> None:
    shapes = pack.static_shapes("unet")
    rng = np.random.default_rng(1)
    feeds = {k: rng.standard_normal(v).astype(np.float32) for k, v in shapes.items()}
    feeds["timestep"] = np.array([500.0], np.float32)
    cpu = make_runtime(OrtConfig(providers=["cpu"]))
    full = cpu.load(pack.graph("unet", "fp32"), shapes).run(feeds)["out_sample"]
    half = cpu.load(pack.graph("unet", "fp16"), shapes).run(feeds)["out_sample"]
    assert half.dtype == np.float32
    assert float(np.abs(half - full).max()) / float(np.abs(full).max()) < 5e-2


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


def test_a_rank_zero_input_is_fed_as_a_scalar(tmp_path: Path) -> None:
    """An Optimum UNet's timestep has rank 0: the feed must keep it (np.ascontiguousarray would make it (1,))."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    s = helper.make_tensor_value_info("s", TensorProto.FLOAT, [])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    # Reshape to [] fails on any input that is not a scalar, as the Optimum UNet's time projection does.
    shape = helper.make_tensor("scalar", TensorProto.INT64, [0], [])
    nodes = [helper.make_node("Reshape", ["s", "scalar"], ["s0"]), helper.make_node("Mul", ["x", "s0"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x, s], [y], [shape]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "scalar.onnx"
    onnx.save(model, str(path))
    static = {"x": (2,), "s": ()}
    assert prepare_feeds({"x": TensorSpec("x", (2,), np.dtype(np.float32)),
                          "s": TensorSpec("s", (), np.dtype(np.float32))},
                         static, {"x": np.ones(2), "s": np.array(3)})["s"].shape == ()
    sess = make_runtime(OrtConfig(providers=["cpu"])).load(path, static)  # warm-up with zeros of shape ()
    out = sess.run({"x": np.array([1.0, -2.0], np.float32), "s": np.array(3.0, np.float32)})["y"]
    np.testing.assert_array_equal(out, [3.0, -6.0])
    with pytest.raises(ModelError, match=r"built for \(\)"):
        sess.run({"x": np.ones(2, np.float32), "s": np.array([3.0], np.float32)})


def test_corrupt_graph_is_model_corrupt(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(ModelCorrupt, match="cannot load"):
        make_runtime(OrtConfig(providers=["cpu"])).load(bad, {})


@pytest.mark.gpu
def test_cuda_provider_runs_with_io_binding(pack: Pack) -> None:
    if CUDA not in ort.get_available_providers():
        pytest.skip("no CUDA execution provider in this onnxruntime build (no GPU on this machine)")
    shapes = pack.static_shapes("unet")
    rt = make_runtime(OrtConfig(providers=["cuda"]))
    sess = rt.load(pack.graph("unet"), shapes)
    assert sess.device == "cuda" and rt.notes == []
    cpu = make_runtime(OrtConfig(providers=["cpu"])).load(pack.graph("unet"), shapes)
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal(v).astype(np.float32) for k, v in shapes.items()}
    np.testing.assert_allclose(sess.run(feeds)["out_sample"], cpu.run(feeds)["out_sample"], atol=1e-3)
