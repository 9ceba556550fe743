"""Which ONNX Runtime execution providers really start here, and whether the install is sound.

ONNX Runtime lists a provider as available when its library is in the wheel, and falls back to the CPU by
itself when the provider then fails to start (no driver, wrong CUDA, no TensorRT). `probe()` creates a
session on a tiny bundled graph (probe.onnx: one convolution) for each GPU provider and reports what ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

PROBE_GRAPH = Path(__file__).with_name("probe.onnx")
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclass(frozen=True)
class ProviderProbe:
    """One provider: listed by this build, started, and matching the CPU's output."""

    name: str
    listed: bool
    started: bool
    detail: str


def ort_distributions() -> list[str]:
    """The installed ONNX Runtime wheels (two of them overwrite each other's files)."""
    found = []
    for dist in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return found


def probe(device_id: int = 0) -> list[ProviderProbe]:
    """Try each GPU provider on the probe graph; a provider that ONNX Runtime replaced by the CPU is not started."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    feed = {"x": np.linspace(-1.0, 1.0, 256, dtype=np.float32).reshape(1, 4, 8, 8)}
    so = ort.SessionOptions()
    so.log_severity_level = 4
    cpu = ort.InferenceSession(str(PROBE_GRAPH), sess_options=so, providers=["CPUExecutionProvider"])
    want = cpu.run(None, feed)[0]
    out = []
    for name in GPU_PROVIDERS:
        if name not in available:
            out.append(ProviderProbe(name, False, False, "not in this onnxruntime build"))
            continue
        try:
            sess = ort.InferenceSession(str(PROBE_GRAPH), sess_options=so,
                                        providers=[(name, {"device_id": device_id}), "CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001  # reason: a provider failing to start raises anything
            out.append(ProviderProbe(name, True, False, f"failed to start: {type(err).__name__}: {err}"))
            continue
        if sess.get_providers()[0] != name:
            out.append(ProviderProbe(name, True, False, "listed, but ONNX Runtime fell back to the CPU"))
            continue
        got = sess.run(None, feed)[0]
        ok = bool(np.allclose(got, want, atol=1e-2))
        out.append(ProviderProbe(name, True, ok, "started" if ok else "started, but its output differs from the CPU's"))
    return out
