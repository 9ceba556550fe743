"""The runtime interface, its typed config registry and the shared helpers.

A runtime turns an ONNX file plus static input shapes into a session that maps numpy feeds to numpy
outputs. Backends declare a key and a config model; the union of the configs is what the kiosk's
config accepts (a discriminated union on `kind`).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from models.errors import ModelError

ProviderName = Literal["tensorrt", "cuda", "cpu"]


class RuntimeUnavailable(ModelError):
    """The requested backend cannot run here (no GPU, library missing); the message says what is missing."""

    exit_code = 2


class EngineMissing(RuntimeUnavailable):
    """No TensorRT engine is cached for a graph on this GPU: `kiosk models build-engines` makes one.

    The kiosk never builds engines while starting (a build takes minutes, past any start-up timeout).
    """


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _default_providers() -> list[ProviderName]:
    return ["tensorrt", "cuda", "cpu"]


class OrtConfig(_Strict):
    """ONNX Runtime with execution providers tried in the order given."""

    kind: Literal["ort"] = Field("ort", description="Backend key.")
    providers: list[ProviderName] = Field(
        default_factory=_default_providers,
        min_length=1,
        description="Execution providers in priority order; unavailable ones are skipped.",
    )
    device_id: int = Field(0, ge=0, le=15, description="CUDA device index.")
    fp16: bool = Field(True, description="On a GPU provider, run the pack's fp16 graphs (when it has them).")
    cache_dir: Path | None = Field(
        None, description="Folder for TensorRT engine and timing caches (default: <pack>/engines)."
    )
    workspace_mb: int = Field(4096, ge=64, le=65536, description="TensorRT builder workspace, MiB.")
    intra_op_threads: int = Field(
        0, ge=0, le=256, description="CPU threads per graph (0: ONNX Runtime decides)."
    )
    warmup_runs: int = Field(
        1, ge=0, le=10, description="Runs with zeros at load time (allocations, kernels)."
    )


class TensorRTConfig(_Strict):
    """Native TensorRT: engines built on the device from the ONNX graphs and cached."""

    kind: Literal["tensorrt"] = Field("tensorrt", description="Backend key.")
    device_id: int = Field(0, ge=0, le=15, description="CUDA device index.")
    precision: Literal["fp16", "fp32"] = Field(
        "fp16", description="Which of the pack's graphs to build engines from (strongly typed)."
    )
    cache_dir: Path | None = Field(None, description="Folder for built engines (default: <pack>/engines).")
    workspace_mb: int = Field(4096, ge=64, le=65536, description="Builder workspace, MiB.")
    warmup_runs: int = Field(1, ge=0, le=10, description="Runs with zeros at load time.")


RuntimeConfig = Annotated[OrtConfig | TensorRTConfig, Field(discriminator="kind")]


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, shape (ints, or a name for a free dimension) and numpy dtype."""

    name: str
    shape: tuple[int | str, ...]
    dtype: np.dtype


_ONNX_TYPES: dict[str, np.dtype] = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(float16)": np.dtype(np.float16),
    "tensor(double)": np.dtype(np.float64),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32),
}


def numpy_dtype(onnx_type: str) -> np.dtype:
    """Numpy dtype of an ONNX Runtime type string such as 'tensor(float)'."""
    if onnx_type not in _ONNX_TYPES:
        raise ModelError(f"unsupported tensor type {onnx_type}")
    return _ONNX_TYPES[onnx_type]


class GraphSession(Protocol):
    """A loaded graph with static shapes."""

    inputs: dict[str, TensorSpec]
    output_names: list[str]
    device: str

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph; feeds are cast to the declared dtypes and checked against the static shapes."""
        ...


def prepare_feeds(
    inputs: Mapping[str, TensorSpec], static: Mapping[str, tuple[int, ...]], feeds: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Cast feeds to the graph's dtypes (contiguous) ; check names and static shapes (ModelError)."""
    missing = set(inputs) - set(feeds)
    extra = set(feeds) - set(inputs)
    if missing or extra:
        raise ModelError(f"graph inputs mismatch: missing {sorted(missing)}, unexpected {sorted(extra)}")
    out = {}
    for name, arr in feeds.items():
        want = static.get(name)
        if want is not None and tuple(arr.shape) != tuple(want):
            raise ModelError(
                f"input '{name}' has shape {tuple(arr.shape)}, the session was built for {tuple(want)}"
            )
        # np.asarray, not np.ascontiguousarray: that one makes a rank-0 array (an Optimum UNet's timestep) (1,).
        out[name] = np.asarray(arr, dtype=inputs[name].dtype, order="C")
    return out


def zero_feeds(
    inputs: Mapping[str, TensorSpec], static: Mapping[str, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """Zeros of every input at its static shape (for warm-up)."""
    feeds = {}
    for name, spec in inputs.items():
        shape = static[name] if name in static else tuple(d if isinstance(d, int) else 1 for d in spec.shape)
        feeds[name] = np.zeros(shape, dtype=spec.dtype)
    return feeds


def engine_cache_key(
    digests: Mapping[str, str],
    trt_version: str,
    gpu: str,
    precision: str,
    shapes: Mapping[str, tuple[int, ...]],
) -> str:
    """Key of a cached engine: a change of any graph file, TensorRT, GPU, precision or shapes gives a new key.

    Args:
        digests: sha256 of every file of the graph (model.onnx and its external data), by name.
        trt_version: TensorRT's version string.
        gpu: the GPU's name and compute capability, e.g. "NVIDIA Orin (sm_87)".
        precision: "fp16" or "fp32".
        shapes: the static input shapes.
    """
    payload = json.dumps(
        {
            "files": dict(sorted(digests.items())),
            "trt": trt_version,
            "gpu": gpu.strip(),
            "precision": precision,
            "shapes": {k: [int(d) for d in v] for k, v in sorted(shapes.items())},
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


class Runtime(ABC):
    """A backend that loads ONNX graphs into sessions.

    Engines (TensorRT) are cached under `engine_dir` (default: the pack's `engines/` folder, where
    `kiosk models build-engines` writes them); only a runtime made with `allow_build` builds missing ones.
    """

    key: ClassVar[str]

    def __init__(self, engine_dir: Path | None, allow_build: bool) -> None:
        self.engine_dir = engine_dir
        self.allow_build = allow_build
        self.notes: list[str] = []  # what the operator should know: fallbacks, missing engines

    @property
    @abstractmethod
    def prefers_fp16(self) -> bool:
        """True when the graphs will run on a GPU in half precision (load the pack's fp16 graphs)."""

    @abstractmethod
    def load(
        self,
        onnx_path: Path,
        static_shapes: Mapping[str, tuple[int, ...]],
        *,
        digests: Mapping[str, str] | None = None,
    ) -> GraphSession:
        """Load `onnx_path` for exactly these input shapes (digests: sha256 of the graph's files); warm it up."""

    @abstractmethod
    def describe(self) -> dict[str, object]:
        """What this backend runs on (providers, device, fallbacks), for logs, status and benchmarks."""


def make_runtime(
    config: OrtConfig | TensorRTConfig, engine_dir: Path | None = None, allow_build: bool = False
) -> Runtime:
    """The backend for a config (imports only the one asked for).

    Args:
        config: the [generation.runtime] section.
        engine_dir: where engines are cached when the config names no cache_dir (the pack's engines/).
        allow_build: build missing TensorRT engines (only `kiosk models build-engines` does).
    """
    cache = config.cache_dir or engine_dir
    if isinstance(config, OrtConfig):
        from models.runtime.ort import OrtRuntime

        return OrtRuntime(config, cache, allow_build)
    from models.runtime.tensorrt_native import TensorRTRuntime

    return TensorRTRuntime(config, cache, allow_build)
