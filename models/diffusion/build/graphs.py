"""The pack's ONNX graphs: exported from a diffusers checkpoint with torch, or taken from an Optimum export.

Every graph has static input shapes (batch 1, the pack's resolution) and opset ≥ 17. A graph whose weights
pass `external_threshold` bytes keeps them in one `model.onnx_data` file beside it (protobuf's 2 GB limit).
The fp16 variant is the UNet exported in half precision with float32 inputs and outputs (the casts are in
the graph); the VAE stays float32 in both variants, as diffusers upcasts SD's VAE (`force_upcast`) because
it overflows in fp16. Each export is checked: ONNX Runtime's output against torch's on random inputs.

Needs the `export` extra (torch, diffusers, onnx); imported only by `build-pack`.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.diffusion.build.source import BuildError, Checkpoint

OPSET = 17
EXTERNAL_THRESHOLD = 1 << 30  # bytes of weights above which a graph keeps them in model.onnx_data
DATA_FILE = "model.onnx_data"


@dataclass(frozen=True)
class GraphShapes:
    """Static shapes of one pack: latent and image sizes, text window."""

    width: int
    height: int
    latent_channels: int
    vae_scale_factor: int
    tokens: int
    dim: int

    @property
    def latent(self) -> tuple[int, int, int, int]:
        """(1, C, h, w) of the latents."""
        f = self.vae_scale_factor
        return (1, self.latent_channels, self.height // f, self.width // f)

    @property
    def image(self) -> tuple[int, int, int, int]:
        """(1, 3, H, W) of the VAE's image side."""
        return (1, 3, self.height, self.width)

    @property
    def text(self) -> tuple[int, int, int]:
        """(1, tokens, dim) of the prompt embeddings."""
        return (1, self.tokens, self.dim)


def save_graph(model: Any, path: Path, external_threshold: int = EXTERNAL_THRESHOLD) -> list[Path]:
    """Write an ONNX ModelProto (weights inline, or in one model.onnx_data past the threshold); the files."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    weights = sum(t.ByteSize() for t in model.graph.initializer)
    if weights > external_threshold:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=DATA_FILE, size_threshold=1024)
        return [path, path.parent / DATA_FILE]
    onnx.save_model(model, str(path))
    return [path]


def _check_close(name: str, ours: np.ndarray, ref: np.ndarray, rel_tol: float) -> float:
    """Relative max error of an exported graph against torch; BuildError past rel_tol."""
    scale = max(1e-6, float(np.abs(ref).max()))
    err = float(np.abs(ours.astype(np.float32) - ref.astype(np.float32)).max()) / scale
    if not np.isfinite(ours).all() or err > rel_tol:
        raise BuildError(f"the exported {name} differs from torch by {err:.2e} (relative; allowed {rel_tol:.0e})")
    return err


def _run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, feeds)[0])


def _export(module: Any, args: tuple[Any, ...], inputs: list[str], output: str, path: Path,
            external_threshold: int) -> list[Path]:
    """torch → ONNX (TorchScript exporter, static shapes), then saved with our external-data rule."""
    import onnx
    import torch

    with tempfile.TemporaryDirectory(prefix="export-") as tmp:
        raw = Path(tmp) / "model.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on Python control flow (constant here)
            torch.onnx.export(module, args, str(raw), input_names=inputs, output_names=[output],
                              opset_version=OPSET, dynamo=False, do_constant_folding=True)
        model = onnx.load(str(raw))  # external data written by torch for > 2 GB is read back here
    for old in path.parent.glob("model.onnx*"):
        old.unlink()
    return save_graph(model, path, external_threshold)


def export_diffusers(ckpt: Checkpoint, out: Path, shapes: GraphShapes, fp16: bool,
                     external_threshold: int = EXTERNAL_THRESHOLD) -> dict[str, dict[str, str]]:
    """Export unet, vae_encoder, vae_decoder (and the fp16 UNet) into `out`; {variant: {component: path}}."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_pretrained(ckpt.root / "unet", torch_dtype=torch.float32).eval()
    vae = AutoencoderKL.from_pretrained(ckpt.root / "vae", torch_dtype=torch.float32).eval()
    if getattr(unet.config, "time_cond_proj_dim", None) or unet.config.in_channels != shapes.latent_channels:
        raise BuildError("the UNet needs extra inputs (an LCM-distilled or inpainting UNet): "
                         "use a plain SD UNet (with LCM-LoRA fused for sd15-lcm)")

    class Unet(torch.nn.Module):
        def __init__(self, net: Any, dtype: Any) -> None:
            super().__init__()
            self.net, self.dtype = net, dtype

        def forward(self, sample: Any, timestep: Any, encoder_hidden_states: Any) -> Any:
            out = self.net(sample.to(self.dtype), timestep, encoder_hidden_states=encoder_hidden_states.to(self.dtype),
                           return_dict=False)[0]
            return out.float()

    class Encoder(torch.nn.Module):
        """The latent distribution's mode: a deterministic graph (diffusers samples; see the README)."""

        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        def forward(self, sample: Any) -> Any:
            return self.net.encode(sample).latent_dist.mode()

    class Decoder(torch.nn.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        def forward(self, latent_sample: Any) -> Any:
            return self.net.decode(latent_sample, return_dict=False)[0]

    gen = torch.Generator().manual_seed(1)
    lat = torch.randn(shapes.latent, generator=gen)
    t = torch.tensor([500.0])
    text = torch.randn(shapes.text, generator=gen)
    img = torch.rand(shapes.image, generator=gen) * 2 - 1
    feeds_u = {"sample": lat.numpy(), "timestep": t.numpy(), "encoder_hidden_states": text.numpy()}
    paths: dict[str, dict[str, str]] = {"fp32": {}}

    def rel(p: Path) -> str:
        return p.relative_to(out).as_posix()

    unet_path = out / "unet" / "model.onnx"
    _export(Unet(unet, torch.float32), (lat, t, text), ["sample", "timestep", "encoder_hidden_states"],
            "out_sample", unet_path, external_threshold)
    with torch.no_grad():
        ref_u = Unet(unet, torch.float32)(lat, t, text).numpy()
    _check_close("unet", _run_onnx(unet_path, feeds_u), ref_u, 1e-3)
    paths["fp32"]["unet"] = rel(unet_path)

    enc_path, dec_path = out / "vae_encoder" / "model.onnx", out / "vae_decoder" / "model.onnx"
    _export(Encoder(vae), (img,), ["sample"], "latent_sample", enc_path, external_threshold)
    _export(Decoder(vae), (lat,), ["latent_sample"], "sample", dec_path, external_threshold)
    with torch.no_grad():
        ref_e = Encoder(vae)(img).numpy()
        ref_d = Decoder(vae)(lat).numpy()
    _check_close("vae_encoder", _run_onnx(enc_path, {"sample": img.numpy()}), ref_e, 1e-3)
    _check_close("vae_decoder", _run_onnx(dec_path, {"latent_sample": lat.numpy()}), ref_d, 1e-3)
    paths["fp32"].update(vae_encoder=rel(enc_path), vae_decoder=rel(dec_path))

    if fp16:
        half_path = out / "unet_fp16" / "model.onnx"
        _export(Unet(unet.half(), torch.float16), (lat, t, text), ["sample", "timestep", "encoder_hidden_states"],
                "out_sample", half_path, external_threshold)
        # fp16 arithmetic on random weights: a loose bound that still catches a broken graph.
        _check_close("unet (fp16)", _run_onnx(half_path, feeds_u), ref_u, 5e-2)
        paths["fp16"] = {"unet": rel(half_path), "vae_encoder": rel(enc_path), "vae_decoder": rel(dec_path)}
    return paths


# -- Optimum exports --------------------------------------------------------------------------------------
_OPTIMUM_IO = {
    "unet": ({"sample", "timestep", "encoder_hidden_states"}, {"out_sample"}),
    "vae_encoder": ({"sample"}, {"latent_sample", "latent_parameters"}),
    "vae_decoder": ({"latent_sample"}, {"sample"}),
}


def _static_dims(shapes: GraphShapes, component: str, name: str, rank: int) -> tuple[int, ...] | None:
    if component == "unet":
        want: dict[str, tuple[int, ...]] = {"sample": shapes.latent, "encoder_hidden_states": shapes.text,
                                            "timestep": (1,) if rank == 1 else ()}
    elif component == "vae_encoder":
        want = {"sample": shapes.image}
    else:
        want = {"latent_sample": shapes.latent}
    return want.get(name)


def import_optimum(ckpt: Checkpoint, out: Path, shapes: GraphShapes) -> tuple[dict[str, dict[str, str]], list[int]]:
    """Copy an Optimum export's graphs, input shapes made static; ({variant: {component: path}}, timestep shape).

    The UNet's timestep may be rank 0 (Optimum) or rank 1 (diffusers' own tracing): either is kept, and the
    pipeline feeds what the graph declares.
    """
    import onnx

    paths: dict[str, str] = {}
    half = None
    rank = 1
    for comp, (want_in, want_out) in _OPTIMUM_IO.items():
        src = ckpt.root / comp / "model.onnx"
        model = onnx.load(str(src), load_external_data=False)
        names_in = {i.name for i in model.graph.input} - {t.name for t in model.graph.initializer}
        names_out = {o.name for o in model.graph.output}
        if names_in != want_in or not names_out & want_out:
            raise BuildError(f"{src}: inputs {sorted(names_in)} / outputs {sorted(names_out)} are not an SD "
                             f"{comp} (want {sorted(want_in)} -> one of {sorted(want_out)})")
        opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
        if opset < OPSET:
            raise BuildError(f"{src}: opset {opset}; re-export with opset ≥ {OPSET}")
        for inp in model.graph.input:
            dims = inp.type.tensor_type.shape.dim
            if comp == "unet" and inp.name == "timestep":
                rank = len(dims)
            static = _static_dims(shapes, comp, inp.name, len(dims))
            if static is None or len(static) != len(dims):
                raise BuildError(f"{src}: input '{inp.name}' has rank {len(dims)}, expected {len(static or ())}")
            for d, size in zip(dims, static, strict=True):
                if d.HasField("dim_value") and d.dim_value != size:
                    raise BuildError(f"{src}: input '{inp.name}' is fixed at another size ({d.dim_value} ≠ {size})")
                d.Clear()
                d.dim_value = size
        is_half = any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
        half = is_half if comp == "unet" else half
        dest = out / comp / "model.onnx"
        dest.parent.mkdir(parents=True, exist_ok=True)
        onnx.save_model(model, str(dest))
        for loc in {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}:
            if "/" in loc or "\\" in loc or loc.startswith("."):
                raise BuildError(f"{src}: external data location '{loc}' must be a file beside the graph")
            shutil.copyfile(src.parent / loc, dest.parent / loc)
        paths[comp] = dest.relative_to(out).as_posix()
    return {"fp16" if half else "fp32": paths}, [1] * rank
