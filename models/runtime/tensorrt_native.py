"""Native TensorRT backend: engines built on the device by `kiosk models build-engines`, cached, checked, loaded.

Networks are strongly typed: the engine's precision is the graph's own (the pack's fp16 graphs for
`precision = "fp16"`). That is the only mode TensorRT 11 has, and an opt-in flag on TensorRT 10, so both
build the same way (TensorRT 11 removed BuilderFlag.FP16). Engines are cached in `<pack>/engines/trt/`
under a key of (sha256 of every file of the graph, TensorRT version, GPU name and compute capability,
precision, shapes), checked after each build, then loaded. Loading never builds unless the runtime was made
with `allow_build` (build-engines): a missing engine raises EngineMissing, so a kiosk never spends its
start-up timeout on a build.

Needs TensorRT 10 or 11 (`tensorrt`: NVIDIA's index, or JetPack's through a --system-site-packages venv), a
CUDA GPU and cuda-python (the `trt` extra). Where any is missing, constructing the runtime raises
RuntimeUnavailable saying which. Not run on a GPU by this project's tests (none is available to them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from models.errors import ModelCorrupt, ModelError
from models.runtime.base import (
    EngineMissing,
    GraphSession,
    Runtime,
    RuntimeUnavailable,
    TensorRTConfig,
    TensorSpec,
    engine_cache_key,
    prepare_feeds,
)
from models.runtime.gpu import gpu_identity
from models.store import atomic_write_bytes, sha256_file

SUPPORTED_MAJORS = (10, 11)

log = logging.getLogger(__name__)


class EngineCheckFailed(ModelError):
    """A freshly built engine produced unusable output (NaN/Inf, or a constant such as an all-black image)."""


def check_outputs(outputs: Mapping[str, np.ndarray], min_std: float = 1e-6) -> None:
    """Raise EngineCheckFailed if an output has NaN/Inf or is constant (e.g. an all-black image)."""
    for name, arr in outputs.items():
        a = np.asarray(arr, dtype=np.float32)
        if a.size == 0:
            raise EngineCheckFailed(f"output '{name}' is empty")
        if not np.isfinite(a).all():
            bad = int((~np.isfinite(a)).sum())
            raise EngineCheckFailed(f"output '{name}' has {bad} NaN/Inf values (try precision fp32)")
        if float(a.std()) < min_std:
            raise EngineCheckFailed(f"output '{name}' is constant ({float(a.mean()):.4g} everywhere)")


def check_inputs(
    specs: Mapping[str, TensorSpec], static: Mapping[str, tuple[int, ...]], seed: int = 0
) -> dict[str, np.ndarray]:
    """Representative inputs for the post-build check: N(0, 1), and a mid timestep for 'timestep'."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, spec in specs.items():
        shape = static[name]
        if name == "timestep":
            feeds[name] = np.full(shape, 500, dtype=spec.dtype)
        else:
            feeds[name] = rng.standard_normal(shape).astype(spec.dtype)
    return feeds


def _cudart() -> Any:
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python layout
        except ImportError as err:
            raise RuntimeUnavailable(
                "native TensorRT needs cuda-python (pip install 'headshot-kiosk[gpu]')"
            ) from err
    return cudart


def _check(result: Any) -> Any:
    """cuda-python returns (error, *values); raise on an error, return the value(s)."""
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise ModelError(f"CUDA call failed: {err}")
    return rest[0] if len(rest) == 1 else rest


def numpy_type(trt: Any, dtype: Any) -> np.dtype:
    """Numpy dtype of a TensorRT DataType (trt.nptype is not relied on across 10 and 11)."""
    table = {"FLOAT": np.float32, "HALF": np.float16, "INT32": np.int32, "INT64": np.int64, "BOOL": np.bool_,
             "INT8": np.int8, "UINT8": np.uint8, "BF16": None}
    for name, np_type in table.items():
        if hasattr(trt.DataType, name) and dtype == getattr(trt.DataType, name):
            if np_type is None:
                break
            return np.dtype(np_type)
    raise ModelError(f"unsupported TensorRT tensor type {dtype}")


class TensorRTSession:
    """One engine with device buffers for its static shapes."""

    def __init__(self, trt: Any, cudart: Any, engine: Any, static: Mapping[str, tuple[int, ...]]) -> None:
        self._cudart = cudart
        self._engine = engine
        self._context = engine.create_execution_context()
        self._static = dict(static)
        self._stream = _check(cudart.cudaStreamCreate())
        self.inputs: dict[str, TensorSpec] = {}
        self.output_names: list[str] = []
        self.device = "cuda"
        self._buffers: dict[str, tuple[int, np.ndarray]] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            dtype = numpy_type(trt, engine.get_tensor_dtype(name))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                shape = tuple(static.get(name, tuple(engine.get_tensor_shape(name))))
                self._context.set_input_shape(name, shape)
                self.inputs[name] = TensorSpec(name, shape, dtype)
            else:
                self.output_names.append(name)
        for name in [*self.inputs, *self.output_names]:
            shape = tuple(self._context.get_tensor_shape(name))
            dtype = numpy_type(trt, engine.get_tensor_dtype(name))
            host = np.empty(shape, dtype=dtype)
            ptr = _check(cudart.cudaMalloc(host.nbytes))
            self._context.set_tensor_address(name, ptr)
            self._buffers[name] = (ptr, host)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Copy inputs in, execute on the stream, copy outputs out."""
        cudart = self._cudart
        prepared = prepare_feeds(self.inputs, self._static, feeds)
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name, arr in prepared.items():
            ptr, _ = self._buffers[name]
            _check(cudart.cudaMemcpyAsync(ptr, arr.ctypes.data, arr.nbytes, h2d, self._stream))
        if not self._context.execute_async_v3(self._stream):
            raise ModelError("TensorRT execution failed")
        outs = {}
        for name in self.output_names:
            ptr, host = self._buffers[name]
            out = np.empty_like(host)
            _check(cudart.cudaMemcpyAsync(out.ctypes.data, ptr, out.nbytes, d2h, self._stream))
            outs[name] = out
        _check(cudart.cudaStreamSynchronize(self._stream))
        return outs

    def close(self) -> None:
        """Free the device buffers and the stream."""
        for ptr, _ in self._buffers.values():
            self._cudart.cudaFree(ptr)
        self._buffers.clear()
        self._cudart.cudaStreamDestroy(self._stream)


class TensorRTRuntime(Runtime):
    """Loads (and, for build-engines, builds) TensorRT engines."""

    key: ClassVar[str] = "tensorrt"

    def __init__(self, config: TensorRTConfig, engine_dir: Path | None = None, allow_build: bool = False) -> None:
        super().__init__(engine_dir, allow_build)
        try:
            import tensorrt as trt
        except ImportError as err:
            raise RuntimeUnavailable(
                "TensorRT is not installed (NVIDIA's pip index, or JetPack's with a --system-site-packages venv; "
                "see the operator docs)"
            ) from err
        major = int(str(trt.__version__).split(".")[0])
        if major not in SUPPORTED_MAJORS:
            raise RuntimeUnavailable(f"TensorRT {trt.__version__} is not supported (10.x or 11.x)")
        cudart = _cudart()
        count = cudart.cudaGetDeviceCount()
        if int(count[0]) != 0 or int(count[1]) <= config.device_id:
            raise RuntimeUnavailable(f"no CUDA GPU with index {config.device_id} is present")
        _check(cudart.cudaSetDevice(config.device_id))
        self.gpu_name = gpu_identity(config.device_id) or f"cuda:{config.device_id}"
        self._trt = trt
        self._cudart = cudart
        self._logger = trt.Logger(trt.Logger.WARNING)
        self.config = config
        self.trt_version = str(trt.__version__)
        self.built: list[dict[str, Any]] = []

    @property
    def prefers_fp16(self) -> bool:
        """The pack's fp16 graphs for precision fp16."""
        return self.config.precision == "fp16"

    def _cache(self, onnx_path: Path) -> Path:
        return (self.engine_dir or onnx_path.parent.parent / "engines") / "trt"

    def engine_path(self, onnx_path: Path, static_shapes: Mapping[str, tuple[int, ...]],
                    digests: Mapping[str, str] | None = None) -> Path:
        """Where the engine for this graph, GPU, TensorRT version, precision and shapes is cached."""
        key = engine_cache_key(
            digests or {onnx_path.name: sha256_file(onnx_path)}, self.trt_version, self.gpu_name,
            self.config.precision, static_shapes,
        )
        return self._cache(onnx_path) / f"{onnx_path.parent.name}-{key}.plan"

    def build(self, onnx_path: Path, static_shapes: Mapping[str, tuple[int, ...]]) -> bytes:
        """Parse the ONNX graph into a strongly typed network and build an engine for exactly these shapes."""
        trt = self._trt
        builder = trt.Builder(self._logger)
        network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ModelCorrupt(f"{onnx_path}: TensorRT cannot parse it: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.config.workspace_mb << 20)
        timing_path = self._cache(onnx_path) / "timing.cache"
        timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.exists() else b"")
        config.set_timing_cache(timing, ignore_mismatch=False)
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            name = network.get_input(i).name
            if name not in static_shapes:
                raise ModelError(f"{onnx_path}: no static shape given for input '{name}'")
            shape = tuple(static_shapes[name])
            profile.set_shape(name, shape, shape, shape)
        config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise ModelError(f"{onnx_path}: TensorRT engine build failed (see the log above)")
        atomic_write_bytes(timing_path, bytes(config.get_timing_cache().serialize()))
        return bytes(plan)

    def load(
        self,
        onnx_path: Path,
        static_shapes: Mapping[str, tuple[int, ...]],
        *,
        digests: Mapping[str, str] | None = None,
    ) -> GraphSession:
        """Load the cached engine; build and check it first only when allowed (build-engines)."""
        trt = self._trt
        path = self.engine_path(onnx_path, static_shapes, digests)
        fresh = not path.exists()
        if fresh and not self.allow_build:
            raise EngineMissing(
                f"no TensorRT engine for {onnx_path.parent.name} on this GPU ({self.gpu_name}, TensorRT "
                f"{self.trt_version}): run `kiosk models build-engines` once (it takes minutes)"
            )
        if fresh:
            t0 = time.monotonic()
            plan = self.build(onnx_path, static_shapes)
            build_s = time.monotonic() - t0
        else:
            plan = path.read_bytes()
            build_s = 0.0
        engine = trt.Runtime(self._logger).deserialize_cuda_engine(plan)
        if engine is None:
            if not fresh:
                path.unlink(missing_ok=True)  # stale or corrupt cache entry: build-engines makes it again
            raise ModelCorrupt(f"{path}: TensorRT cannot deserialize the engine (run `kiosk models build-engines`)")
        session = TensorRTSession(trt, self._cudart, engine, static_shapes)
        if fresh:
            check_outputs(session.run(check_inputs(session.inputs, static_shapes)))
            atomic_write_bytes(path, plan)
        for _ in range(self.config.warmup_runs):
            session.run(check_inputs(session.inputs, static_shapes))
        self.built.append(
            {"graph": str(onnx_path), "engine": str(path), "built": fresh, "build_s": round(build_s, 2)}
        )
        return session

    def describe(self) -> dict[str, object]:
        """TensorRT version, GPU and precision."""
        return {
            "backend": self.key,
            "trt": self.trt_version,
            "gpu": self.gpu_name,
            "precision": self.config.precision,
            "engines": list(self.built),
            "notes": list(self.notes),
        }
