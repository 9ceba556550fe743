"""Which GPU this is (name and compute capability), for engine cache keys and `kiosk doctor`."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any


def _cudart() -> Any | None:
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python layout
        except ImportError:
            return None
    return cudart


def gpu_identity(device_id: int = 0) -> str | None:
    """'NAME (sm_XY)' of CUDA device `device_id`, from cuda-python or nvidia-smi; None when neither can tell."""
    cudart = _cudart()
    if cudart is not None:
        err, props = cudart.cudaGetDeviceProperties(device_id)
        if int(err) == 0:
            name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
            return f"{name.rstrip(chr(0)).strip()} (sm_{props.major}{props.minor})"
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, f"--id={device_id}", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    name, _, cap = out.rpartition(",")
    return f"{name.strip()} (sm_{cap.strip().replace('.', '')})" if name else None


def tensorrt_version() -> str | None:
    """TensorRT's version string (the Python package, JetPack's included), or None when it is not installed."""
    try:
        import tensorrt
    except ImportError:
        return None
    return str(getattr(tensorrt, "__version__", "unknown"))
