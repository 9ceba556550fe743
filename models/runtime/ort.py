"""ONNX Runtime backend with execution providers in priority order.

TensorRT EP (engine and timing caches under `<engines>/ort-trt`), CUDA EP, CPU EP; static shapes, IO binding
when the graph runs on the GPU, warm-up at load time. Precision comes from the graph itself (the pack's fp16
graphs on a GPU): the TensorRT EP builds strongly typed engines, as TensorRT 11 requires.

The TensorRT EP builds an engine the first time it meets a graph, which takes minutes: a runtime not made
with `allow_build` uses the TensorRT EP for a graph only when `kiosk models build-engines --backend ort` left
a marker for exactly that graph, GPU and TensorRT, and otherwise goes on with the next provider, saying so.
A provider that fails to start (ONNX Runtime then falls back to the CPU by itself) is reported, never hidden.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from models.errors import ModelCorrupt
from models.runtime.base import (
    GraphSession,
    OrtConfig,
    Runtime,
    RuntimeUnavailable,
    TensorSpec,
    engine_cache_key,
    numpy_dtype,
    prepare_feeds,
    zero_feeds,
)
from models.runtime.gpu import gpu_identity, tensorrt_version

log = logging.getLogger(__name__)

ORT_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def shape_string(shapes: Mapping[str, tuple[int, ...]]) -> str:
    """TensorRT EP profile syntax: 'name:1x4x64x64,other:1'."""
    return ",".join(f"{name}:{'x'.join(str(d) for d in shape)}" for name, shape in sorted(shapes.items()))


def provider_options(
    key: str, config: OrtConfig, cache_dir: Path | None, static_shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, Any]:
    """Options for one provider; the TensorRT EP gets engine + timing caches and a static profile.

    trt_fp16_enable stays off: precision is in the graph (strongly typed), the only mode of TensorRT 11.
    """
    if key == "tensorrt":
        opts: dict[str, Any] = {
            "device_id": config.device_id,
            "trt_fp16_enable": False,
            "trt_max_workspace_size": config.workspace_mb << 20,
        }
        if cache_dir is not None:
            opts.update(
                trt_engine_cache_enable=True,
                trt_engine_cache_path=str(cache_dir / "ort-trt"),
                trt_timing_cache_enable=True,
                trt_timing_cache_path=str(cache_dir / "ort-trt"),
            )
        if static_shapes:
            profile = shape_string(static_shapes)
            opts.update(
                trt_profile_min_shapes=profile, trt_profile_opt_shapes=profile, trt_profile_max_shapes=profile
            )
        return opts
    if key == "cuda":
        return {"device_id": config.device_id, "cudnn_conv_algo_search": "HEURISTIC"}
    return {}


def resolve_providers(
    config: OrtConfig,
    available: Sequence[str],
    cache_dir: Path | None = None,
    static_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The configured providers that this ONNX Runtime build has, in config order, with their options.

    Raises RuntimeUnavailable when none of them is available (naming what is missing).
    """
    chosen = []
    for key in dict.fromkeys(config.providers):  # keep order, drop repeats
        name = ORT_NAMES[key]
        if name in available:
            chosen.append((name, provider_options(key, config, cache_dir, static_shapes or {})))
        else:
            log.info("execution provider %s is not available in this onnxruntime build", name)
    if not chosen:
        raise RuntimeUnavailable(
            f"none of the configured execution providers {list(config.providers)} is available "
            f"(this onnxruntime has {list(available)}); install onnxruntime-gpu or add 'cpu'"
        )
    return chosen


def free_dimension_overrides(onnx_path: Path, static_shapes: Mapping[str, tuple[int, ...]]) -> dict[str, int]:
    """Map each named free dimension of the graph's inputs to the static size it gets (needs `onnx`)."""
    try:
        import onnx
    except ImportError:
        return {}
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception:  # noqa: BLE001  # reason: protobuf's DecodeError and friends; ONNX Runtime reports it next
        return {}
    overrides: dict[str, int] = {}
    for inp in model.graph.input:
        want = static_shapes.get(inp.name)
        if want is None:
            continue
        dims = inp.type.tensor_type.shape.dim
        for d, size in zip(dims, want, strict=False):
            if d.dim_param:
                overrides[d.dim_param] = int(size)
    return overrides


class OrtSession:
    """One graph on ONNX Runtime."""

    def __init__(self, session: Any, static_shapes: Mapping[str, tuple[int, ...]], device_id: int) -> None:
        self._session = session
        self._static = dict(static_shapes)
        self._device_id = device_id
        self.inputs = {
            i.name: TensorSpec(i.name, tuple(i.shape), numpy_dtype(i.type)) for i in session.get_inputs()
        }
        self.output_names = [o.name for o in session.get_outputs()]
        providers = session.get_providers()
        self.provider = providers[0]
        self.device = "cuda" if self.provider != "CPUExecutionProvider" else "cpu"

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; on the GPU through IO binding (outputs allocated on the device, copied back once)."""
        prepared = prepare_feeds(self.inputs, self._static, feeds)
        if self.device == "cpu":
            outs = self._session.run(self.output_names, prepared)
            return dict(zip(self.output_names, outs, strict=True))
        binding = self._session.io_binding()
        for name, arr in prepared.items():
            binding.bind_cpu_input(name, arr)
        for name in self.output_names:
            binding.bind_output(name, "cuda", self._device_id)
        self._session.run_with_iobinding(binding)
        return dict(zip(self.output_names, binding.copy_outputs_to_cpu(), strict=True))

    def warm_up(self, runs: int) -> None:
        """Run with zeros `runs` times (first-run allocations, engine builds, kernel choice)."""
        feeds = zero_feeds(self.inputs, self._static)
        for _ in range(runs):
            self.run(feeds)


class OrtRuntime(Runtime):
    """ONNX Runtime with the configured execution providers."""

    key: ClassVar[str] = "ort"

    def __init__(self, config: OrtConfig, engine_dir: Path | None = None, allow_build: bool = False) -> None:
        super().__init__(engine_dir, allow_build)
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise RuntimeUnavailable(
                "ONNX Runtime is not installed: pip install 'headshot-kiosk[cpu]' (or [gpu] on an NVIDIA machine)"
            ) from err

        self._ort = ort
        self.config = config
        self.available = list(ort.get_available_providers())
        self.loaded: list[dict[str, object]] = []

    @property
    def prefers_fp16(self) -> bool:
        """fp16 graphs when configured and a GPU provider is both configured and in this build."""
        gpu = {ORT_NAMES[k] for k in self.config.providers if k != "cpu"}
        return self.config.fp16 and bool(gpu & set(self.available))

    def engine_marker(self, onnx_path: Path, static_shapes: Mapping[str, tuple[int, ...]],
                      digests: Mapping[str, str]) -> Path | None:
        """The file `build-engines` leaves once the TensorRT EP has built this graph here (None: no cache)."""
        if self.engine_dir is None:
            return None
        key = engine_cache_key(
            digests or {onnx_path.name: "unknown"},
            f"ort-{self._ort.__version__}/trt-{tensorrt_version() or 'bundled'}",
            gpu_identity(self.config.device_id) or "unknown-gpu",
            "graph",
            static_shapes,
        )
        return self.engine_dir / "ort-trt" / f"{onnx_path.parent.name}-{key}.ready"

    def load(
        self,
        onnx_path: Path,
        static_shapes: Mapping[str, tuple[int, ...]],
        *,
        digests: Mapping[str, str] | None = None,
    ) -> GraphSession:
        """Create a session for the static shapes and warm it up; report a provider that did not start."""
        ort = self._ort
        cache = self.engine_dir
        providers = resolve_providers(self.config, self.available, cache, static_shapes)
        marker = None
        if providers[0][0] == ORT_NAMES["tensorrt"]:
            marker = self.engine_marker(onnx_path, static_shapes, digests or {})
            if not self.allow_build and (marker is None or not marker.exists()):
                providers = providers[1:]
                self._note(f"TensorRT engine for {onnx_path.parent.name} is not built here: run "
                           "`kiosk models build-engines --backend ort` (using the next provider until then)")
                if not providers:
                    raise RuntimeUnavailable(f"no TensorRT engine for {onnx_path.parent.name} and no other "
                                             "provider configured: run `kiosk models build-engines --backend ort`")
        if cache is not None and any(name == ORT_NAMES["tensorrt"] for name, _ in providers):
            # Only the TensorRT EP writes there; a CPU or CUDA run leaves a (maybe read-only) pack untouched.
            (cache / "ort-trt").mkdir(parents=True, exist_ok=True)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        if self.config.intra_op_threads:
            so.intra_op_num_threads = self.config.intra_op_threads
        for dim, size in free_dimension_overrides(onnx_path, static_shapes).items():
            so.add_free_dimension_override_by_name(dim, size)
        try:
            session = ort.InferenceSession(
                str(onnx_path),
                sess_options=so,
                providers=[name for name, _ in providers],
                provider_options=[opts for _, opts in providers],
            )
        except Exception as err:  # reason: onnxruntime raises several unrelated types for bad graphs
            raise ModelCorrupt(f"{onnx_path}: ONNX Runtime cannot load it: {err}") from err
        wrapped = OrtSession(session, static_shapes, self.config.device_id)
        wanted = providers[0][0]
        if wrapped.provider != wanted:
            self._note(f"{wanted} did not start for {onnx_path.parent.name}: running on {wrapped.provider}")
        wrapped.warm_up(self.config.warmup_runs)
        if marker is not None and self.allow_build and wrapped.provider == ORT_NAMES["tensorrt"]:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"{onnx_path}\n", encoding="utf-8")
        self.loaded.append({"graph": onnx_path.parent.name, "provider": wrapped.provider, "requested": wanted})
        log.info("loaded %s on %s", onnx_path.name, wrapped.provider)
        return wrapped

    def _note(self, text: str) -> None:
        if text not in self.notes:
            log.warning("%s", text)
            self.notes.append(text)

    def describe(self) -> dict[str, object]:
        """Configured and available providers, what each graph runs on, and what fell back."""
        return {
            "backend": self.key,
            "providers": list(self.config.providers),
            "available": self.available,
            "graphs": list(self.loaded),
            "notes": list(self.notes),
        }
