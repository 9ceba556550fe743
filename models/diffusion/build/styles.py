"""Style presets for build-pack: read from TOML, encoded with the checkpoint's own tokenizer and text encoder.

The embeddings are what diffusers' StableDiffusionPipeline.encode_prompt feeds the UNet (the text
encoder's last hidden state over the prompt padded to the tokenizer's window). A prompt longer than the
window is refused, never silently cut; for a diffusers checkpoint each embedding is checked against
encode_prompt's own.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.diffusion.build.source import BuildError, Checkpoint

DEFAULT_PRESETS = Path(__file__).resolve().parents[1] / "presets.toml"
LANGUAGES = ("en", "es", "fr", "de", "pt", "zh")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PresetFile(_Strict):
    """One style in the presets TOML."""

    prompt: str = Field(min_length=1, max_length=1000, description="What the backdrop, clothes and light look like.")
    negative_prompt: str | None = Field(None, max_length=1000, description="Used only when guidance_scale > 1.")
    labels: dict[str, str] = Field(default_factory=dict, description="Name on the style screen per language.")
    backdrop: str | None = Field(None, pattern=r"^#[0-9A-Fa-f]{6}$",
                                 description="The backdrop's main colour as the prompt describes it (#RRGGBB): "
                                 "the kiosk's style preview draws the guest over it.")
    strength: float | None = Field(None, gt=0.0, le=1.0, description="Overrides the family's default, 0..1.")
    steps: int | None = Field(None, ge=1, le=50, description="Overrides the family's default.")
    guidance_scale: float | None = Field(None, ge=0.0, le=20.0, description="Overrides the family's default.")

    @field_validator("labels")
    @classmethod
    def _langs(cls, v: dict[str, str]) -> dict[str, str]:
        for lang, text in v.items():
            if lang not in LANGUAGES:
                raise ValueError(f"label language '{lang}' is not one of {', '.join(LANGUAGES)}")
            if not 0 < len(text) <= 40:
                raise ValueError(f"label '{text}' must be 1..40 characters")
        return v


class PresetsFile(_Strict):
    """The whole presets TOML: defaults and styles."""

    defaults: dict[str, str] = Field(default_factory=dict)
    styles: dict[str, PresetFile] = Field(min_length=1, max_length=32)

    @field_validator("defaults")
    @classmethod
    def _defaults(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = set(v) - {"negative_prompt"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)} (only negative_prompt)")
        return v


@dataclass(frozen=True)
class EncodedStyle:
    """One preset with its embeddings (1, tokens, dim) float32."""

    name: str
    spec: PresetFile
    negative_prompt: str | None
    embeddings: np.ndarray
    negative_embeddings: np.ndarray | None


def read_presets(path: Path | None) -> PresetsFile:
    """Parse and validate a presets TOML (the default set when None); BuildError naming the first problem."""
    path = path or DEFAULT_PRESETS
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise BuildError(f"{path}: cannot read the style presets: {err}") from err
    try:
        return PresetsFile.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise BuildError(f"{path}: {key}: {first['msg']}") from err


class _Encoder:
    """Prompt → embeddings with the checkpoint's tokenizer and text encoder (torch, or ONNX for Optimum)."""

    def __init__(self, ckpt: Checkpoint) -> None:
        from transformers import CLIPTokenizer

        self.ckpt = ckpt
        try:
            self.tokenizer = CLIPTokenizer.from_pretrained(str(ckpt.root / "tokenizer"))
        except (OSError, ValueError) as err:
            raise BuildError(f"{ckpt.root / 'tokenizer'}: cannot load the tokenizer: {err}") from err
        self.window = int(self.tokenizer.model_max_length)
        self._torch: Any = None
        self._onnx: Any = None
        if ckpt.layout == "diffusers":
            from transformers import CLIPTextModel

            self._torch = CLIPTextModel.from_pretrained(str(ckpt.root / "text_encoder")).eval()
        else:
            import onnxruntime as ort

            self._onnx = ort.InferenceSession(str(ckpt.root / "text_encoder" / "model.onnx"),
                                              providers=["CPUExecutionProvider"])

    def ids(self, name: str, prompt: str) -> np.ndarray:
        """Token ids padded to the window; BuildError when the prompt does not fit."""
        n = len(self.tokenizer(prompt).input_ids)
        if n > self.window:
            raise BuildError(f"style '{name}': the prompt is {n} tokens, the text encoder reads {self.window}: "
                             "shorten it")
        enc = self.tokenizer(prompt, padding="max_length", max_length=self.window, truncation=True)
        return np.asarray([enc.input_ids], dtype=np.int64)

    def encode(self, ids: np.ndarray) -> np.ndarray:
        """The text encoder's last hidden state, (1, tokens, dim) float32."""
        if self._torch is not None:
            import torch

            with torch.no_grad():
                return self._torch(torch.from_numpy(ids))[0].numpy().astype(np.float32)
        inp = self._onnx.get_inputs()[0]
        feeds = {inp.name: ids.astype(np.int32 if inp.type == "tensor(int32)" else np.int64)}
        return np.asarray(self._onnx.run(None, feeds)[0], dtype=np.float32)

    def reference(self, prompt: str) -> np.ndarray | None:
        """diffusers' own encode_prompt for the same prompt (None for an Optimum export: no torch encoder)."""
        if self._torch is None:
            return None
        import torch
        from diffusers import StableDiffusionPipeline

        pipe = StableDiffusionPipeline(vae=None, text_encoder=self._torch, tokenizer=self.tokenizer, unet=None,
                                       scheduler=None, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
        with torch.no_grad():
            emb, _ = pipe.encode_prompt(prompt, "cpu", 1, False)  # type: ignore[attr-defined]  # reason: diffusers' own method, untyped stubs
        return np.asarray(emb.numpy(), dtype=np.float32)


def encode_styles(ckpt: Checkpoint, presets: PresetsFile, guidance: float, dim: int) -> list[EncodedStyle]:
    """Encode every preset's prompt (and negative prompt when its guidance > 1); checked as it goes."""
    enc = _Encoder(ckpt)
    out = []
    for name, spec in presets.styles.items():
        emb = enc.encode(enc.ids(name, spec.prompt))
        if emb.shape != (1, enc.window, dim):
            raise BuildError(f"style '{name}': embeddings {emb.shape}, the UNet reads (1, {enc.window}, {dim})")
        if not np.isfinite(emb).all():
            raise BuildError(f"style '{name}': the text encoder gave NaN/Inf")
        ref = enc.reference(spec.prompt)
        if ref is not None and float(np.abs(ref - emb).max()) > 1e-5:
            raise BuildError(f"style '{name}': embeddings differ from diffusers' encode_prompt "
                             f"({float(np.abs(ref - emb).max()):.2e})")
        negative = spec.negative_prompt or presets.defaults.get("negative_prompt")
        neg_emb = None
        if (spec.guidance_scale if spec.guidance_scale is not None else guidance) > 1.0:
            neg_emb = enc.encode(enc.ids(f"{name} (negative)", negative or ""))
        out.append(EncodedStyle(name, spec, negative if neg_emb is not None else None, emb, neg_emb))
    return out
