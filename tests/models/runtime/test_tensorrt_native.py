"""Native TensorRT: cache key, engine location, no build outside build-engines, post-build checks (CPU);
build + run on a GPU (skipped without one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from models.diffusion.pack import Pack, load_pack
from models.runtime import OrtConfig, Runtime, RuntimeUnavailable, TensorRTConfig, TensorSpec, make_runtime
from models.runtime.base import EngineMissing, engine_cache_key
from models.runtime.tensorrt_native import EngineCheckFailed, TensorRTRuntime, check_inputs, check_outputs

SHAPES = {"sample": (1, 4, 20, 16), "timestep": (1,), "encoder_hidden_states": (1, 77, 32)}
DIGESTS = {"unet/model.onnx": "a" * 64, "unet/model.onnx_data": "b" * 64}
BASE = (DIGESTS, "10.3.0", "NVIDIA Orin (sm_87)", "fp16", SHAPES)


@pytest.fixture(scope="module")
def pack(tiny_pack: Path) -> Pack:
    return load_pack(tiny_pack, verify="none")


def test_cache_key_is_stable_and_order_independent() -> None:
    k1 = engine_cache_key(*BASE)
    k2 = engine_cache_key(dict(reversed(list(DIGESTS.items()))), BASE[1], BASE[2] + " ", BASE[3],
                          dict(reversed(list(SHAPES.items()))))
    assert k1 == k2 and len(k1) == 32


@pytest.mark.parametrize(
    "changed",
    [
        ({**DIGESTS, "unet/model.onnx": "c" * 64}, *BASE[1:]),
        ({**DIGESTS, "unet/model.onnx_data": "c" * 64}, *BASE[1:]),
        ({"unet/model.onnx": "a" * 64}, *BASE[1:]),
        (BASE[0], "11.0.0", *BASE[2:]),
        (*BASE[:2], "NVIDIA H100 (sm_90)", *BASE[3:]),
        (*BASE[:2], "NVIDIA Orin (sm_72)", *BASE[3:]),
        (*BASE[:3], "fp32", BASE[4]),
        (*BASE[:4], {**SHAPES, "sample": (1, 4, 64, 64)}),
        (*BASE[:4], {**SHAPES, "timestep": ()}),
    ],
    ids=["graph", "external-data", "fewer-files", "trt", "gpu", "compute-capability", "precision", "shapes",
         "timestep-rank"],
)
def test_cache_key_changes_with_every_field(changed: tuple) -> None:
    assert engine_cache_key(*changed) != engine_cache_key(*BASE)


def _runtime_as_on_a_gpu(engine_dir: Path | None, allow_build: bool = False) -> TensorRTRuntime:
    """A TensorRTRuntime in the state its constructor leaves on a GPU with TensorRT 10.3 (none is here).

    Only what load() reads before it touches TensorRT is set: the engine's path and the no-build rule.
    """
    rt = TensorRTRuntime.__new__(TensorRTRuntime)
    Runtime.__init__(rt, engine_dir, allow_build)
    rt.config = TensorRTConfig()
    rt.gpu_name = "NVIDIA Orin (sm_87)"
    rt.trt_version = "10.3.0"
    rt.built = []
    rt._trt = None  # any use of TensorRT (a build) fails loudly: a missing engine must be refused before
    return rt


def test_a_missing_engine_is_never_built_at_start_and_names_build_engines(pack: Pack) -> None:
    rt = _runtime_as_on_a_gpu(None)
    onnx_path, shapes = pack.graph("unet", "fp16"), pack.static_shapes("unet")
    digests = pack.graph_digests("unet", "fp16")
    path = rt.engine_path(onnx_path, shapes, digests)
    assert path.parent == pack.root / "engines" / "trt", "where build-engines writes and the kiosk looks"
    assert path.name == f"unet_fp16-{engine_cache_key(digests, '10.3.0', rt.gpu_name, 'fp16', shapes)}.plan"
    assert not path.exists()
    with pytest.raises(EngineMissing, match=r"run `kiosk models build-engines` once") as err:
        rt.load(onnx_path, shapes, digests=digests)
    assert "unet_fp16" in str(err.value) and "NVIDIA Orin (sm_87)" in str(err.value)
    assert isinstance(err.value, RuntimeUnavailable) and err.value.exit_code == 2
    assert rt.built == [] and not path.exists()


def test_engine_path_follows_the_configured_cache_and_every_graph_file(tmp_path: Path, pack: Pack) -> None:
    rt = _runtime_as_on_a_gpu(tmp_path / "cache")
    onnx_path, shapes = pack.graph("unet"), pack.static_shapes("unet")
    digests = pack.graph_digests("unet")
    path = rt.engine_path(onnx_path, shapes, digests)
    assert path.parent == tmp_path / "cache" / "trt"
    assert rt.engine_path(onnx_path, shapes, {**digests, "unet/model.onnx_data": "0" * 64}) != path


def test_without_tensorrt_the_runtime_is_unavailable_saying_what_to_install(tmp_path: Path) -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeUnavailable, match="TensorRT is not installed"):
            make_runtime(TensorRTConfig(), engine_dir=tmp_path)
        return
    pytest.skip("tensorrt is installed here: the GPU tests below cover the runtime")


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
    scalar = check_inputs({"timestep": TensorSpec("timestep", (), np.dtype(np.float32))}, {"timestep": ()})
    assert scalar["timestep"].shape == () and float(scalar["timestep"]) == 500


def _trt_or_skip(cache: Path, precision: str, allow_build: bool) -> Runtime:
    try:
        return make_runtime(TensorRTConfig(cache_dir=cache, precision=precision), allow_build=allow_build)  # type: ignore[arg-type]  # reason: the literal, from a parameter
    except RuntimeUnavailable as err:
        pytest.skip(f"native TensorRT cannot run here: {err}")


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_build_check_cache_and_reload_on_gpu(tmp_path: Path, pack: Pack, precision: str) -> None:
    folder = tmp_path / "unet"
    shutil.copytree(pack.graph("unet", precision).parent, folder)  # type: ignore[arg-type]  # reason: as above
    onnx_path, shapes = folder / "model.onnx", pack.static_shapes("unet")
    digests = pack.graph_digests("unet", precision)  # type: ignore[arg-type]  # reason: as above
    starting = _trt_or_skip(tmp_path / "engines", precision, allow_build=False)
    with pytest.raises(EngineMissing, match="build-engines"):
        starting.load(onnx_path, shapes, digests=digests)
    builder = _trt_or_skip(tmp_path / "engines", precision, allow_build=True)
    sess = builder.load(onnx_path, shapes, digests=digests)
    plans = list((tmp_path / "engines" / "trt").glob("unet-*.plan"))
    assert len(plans) == 1 and builder.built[-1]["built"] is True  # type: ignore[attr-defined]  # reason: TensorRTRuntime
    feeds = check_inputs(sess.inputs, shapes)
    out = sess.run(feeds)["out_sample"]
    fp32 = pack.graph("unet", "fp32")
    ref = make_runtime(OrtConfig(providers=["cpu"])).load(fp32, shapes).run(feeds)["out_sample"]
    tol = 1e-2 if precision == "fp32" else 5e-2
    assert float(np.abs(out.astype(np.float32) - ref).max()) / float(np.abs(ref).max()) < tol
    starting.load(onnx_path, shapes, digests=digests)
    assert starting.built[-1]["built"] is False, "the kiosk loads the cached engine"  # type: ignore[attr-defined]  # reason: as above
