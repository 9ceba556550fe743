"""Native TensorRT backend: engines built on the device, cached, checked, loaded.

fp16 engines are built from the ONNX graphs and cached under a key of (ONNX sha256, TensorRT version, GPU
name, precision, shapes), checked after each build, then loaded.

Needs the `tensorrt` Python package, a CUDA GPU and cuda-python (the `gpu` extra). Where any of them is
missing, constructing the runtime raises RuntimeUnavailable saying which.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from models.errors import ModelCorrupt, ModelError
from models.runtime.base import (
    GraphSession,
    Runtime,
    RuntimeUnavailable,
    TensorRTConfig,
    TensorSpec,
    prepare_feeds,
)
from models.store import atomic_write_bytes, sha256_file

log = logging.getLogger(__name__)


class EngineCheckFailed(ModelError):
    """A freshly built engine produced unusable output (NaN/Inf, or a constant such as an all-black image)."""


def engine_cache_key(
    onnx_sha256: str, trt_version: str, gpu_name: str, precision: str, shapes: Mapping[str, tuple[int, ...]]
) -> str:
    """Cache key of an engine: any change of graph, TensorRT, GPU, precision or shapes gives a new key."""
    payload = json.dumps(
        {
            "onnx": onnx_sha256,
            "trt": trt_version,
            "gpu": gpu_name.strip(),
            "precision": precision,
            "shapes": {k: [int(d) for d in v] for k, v in sorted(shapes.items())},
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


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
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                shape = tuple(static.get(name, tuple(engine.get_tensor_shape(name))))
                self._context.set_input_shape(name, shape)
                self.inputs[name] = TensorSpec(name, shape, dtype)
            else:
                self.output_names.append(name)
        for name in [*self.inputs, *self.output_names]:
            shape = tuple(self._context.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
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
    """Builds (once, cached) and runs TensorRT engines."""

    key: ClassVar[str] = "tensorrt"

    def __init__(self, config: TensorRTConfig) -> None:
        try:
            import tensorrt as trt
        except ImportError as err:
            raise RuntimeUnavailable(
                "the tensorrt Python package is not installed (pip install 'headshot-kiosk[gpu]')"
            ) from err
        cudart = _cudart()
        count = cudart.cudaGetDeviceCount()
        if int(count[0]) != 0 or int(count[1]) <= config.device_id:
            raise RuntimeUnavailable(f"no CUDA GPU with index {config.device_id} is present")
        _check(cudart.cudaSetDevice(config.device_id))
        props = _check(cudart.cudaGetDeviceProperties(config.device_id))
        name = props.name
        self.gpu_name = (name.decode(errors="replace") if isinstance(name, bytes) else str(name)).rstrip(
            "\x00"
        )
        self._trt = trt
        self._cudart = cudart
        self._logger = trt.Logger(trt.Logger.WARNING)
        self.config = config
        self.trt_version = str(trt.__version__)
        self.built: list[dict[str, Any]] = []

    def engine_path(self, onnx_path: Path, static_shapes: Mapping[str, tuple[int, ...]]) -> Path:
        """Where the engine for this graph, GPU, TensorRT version, precision and shapes is cached."""
        key = engine_cache_key(
            sha256_file(onnx_path), self.trt_version, self.gpu_name, self.config.precision, static_shapes
        )
        cache = self.config.cache_dir or onnx_path.parent / "trt_engines"
        return cache / f"{onnx_path.parent.name or onnx_path.stem}-{key}.plan"

    def build(self, onnx_path: Path, static_shapes: Mapping[str, tuple[int, ...]]) -> bytes:
        """Parse the ONNX graph and build a serialized engine for exactly these shapes."""
        trt = self._trt
        builder = trt.Builder(self._logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ModelCorrupt(f"{onnx_path}: TensorRT cannot parse it: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.config.workspace_mb << 20)
        if self.config.precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        timing_path = (self.config.cache_dir or onnx_path.parent / "trt_engines") / "timing.cache"
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

    def load(self, onnx_path: Path, static_shapes: Mapping[str, tuple[int, ...]]) -> GraphSession:
        """Load the cached engine, building and checking it first when absent."""
        trt = self._trt
        path = self.engine_path(onnx_path, static_shapes)
        fresh = not path.exists()
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
                path.unlink(missing_ok=True)  # stale or corrupt cache entry: rebuild next time
            raise ModelCorrupt(f"{path}: TensorRT cannot deserialize the engine")
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
        }
