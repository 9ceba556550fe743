"""Graph runtimes behind one interface: ONNX Runtime (TensorRT / CUDA / CPU providers) and native TensorRT."""

from __future__ import annotations

from models.runtime.base import (
    GraphSession,
    OrtConfig,
    Runtime,
    RuntimeConfig,
    RuntimeUnavailable,
    TensorRTConfig,
    TensorSpec,
    make_runtime,
)

__all__ = [
    "GraphSession",
    "OrtConfig",
    "Runtime",
    "RuntimeConfig",
    "RuntimeUnavailable",
    "TensorRTConfig",
    "TensorSpec",
    "make_runtime",
]
