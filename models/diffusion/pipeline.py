"""Image-to-image over numpy arrays, whole or masked: VAE encode → noise → N denoising steps → VAE decode.

The arithmetic follows the reference PyTorch pipelines so that for the same noise the outputs agree (tests
check MAE ≤ 1e-3 against them):

- without a mask, StableDiffusionImg2ImgPipeline (start step from steps × strength), or for an LCM pack
  LatentConsistencyModelImg2ImgPipeline (strength picks the consistency schedule itself: 4 steps at 0.5
  run timesteps 499, 379, 259, 139);
- with a mask, StableDiffusionInpaintPipeline with a plain 4-channel UNet: the mask is binarised and taken
  to latent size by nearest sampling, and after every step the latents outside it are replaced by the
  image's own latents noised to the next step's level, so only the masked region is regenerated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from models.diffusion.noise import NoiseSource, SeededNoise
from models.diffusion.pack import COMPONENTS, Pack, Precision, StyleInputs
from models.diffusion.schedulers import Scheduler
from models.errors import ModelError
from models.runtime.base import GraphSession, Runtime

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]
NETWORK_STAGES = ("vae_encode", "unet", "vae_decode")


class GenerationCancelled(ModelError):
    """The caller cancelled a generation between two steps."""


@dataclass
class Img2ImgResult:
    """Output image (RGB float32 0..1, height × width of the pack) and where the time went."""

    image: np.ndarray
    steps_run: int
    timesteps: list[float]
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def network_ms(self) -> float:
        """Time inside the graph runtime (encoder, denoiser, decoder)."""
        return sum(v for k, v in self.timings_ms.items() if k in NETWORK_STAGES)

    @property
    def total_ms(self) -> float:
        """Wall time of the whole call."""
        return self.timings_ms.get("total", 0.0)


def latent_mask(mask: np.ndarray, factor: int) -> np.ndarray:
    """(1, 1, h/f, w/f) float32 of a pixel mask: binarised at 0.5, then nearest-sampled (the reference's way)."""
    binary = (np.asarray(mask, np.float32) >= 0.5).astype(np.float32)
    return np.ascontiguousarray(binary[::factor, ::factor])[None, None]


class Img2ImgPipeline:
    """Loads a pack's three graphs once (static shapes, warmed up) and runs seeded jobs, whole or masked."""

    def __init__(self, pack: Pack, runtime: Runtime) -> None:
        self.pack = pack
        self.precision: Precision = pack.precision(runtime.prefers_fp16)
        self.sessions: dict[str, GraphSession] = {
            c: runtime.load(pack.graph(c, self.precision), pack.static_shapes(c), digests=pack.graph_digests(
                c, self.precision)) for c in COMPONENTS
        }
        want = {"unet": {"sample", "timestep", "encoder_hidden_states"}, "vae_encoder": {"sample"},
                "vae_decoder": {"latent_sample"}}
        for name, sess in self.sessions.items():
            if set(sess.inputs) != want[name]:
                raise ModelError(f"pack {name} inputs {sorted(sess.inputs)} differ from {sorted(want[name])}")
        self.latent_shape = pack.latent_shape

    def __call__(
        self,
        image: np.ndarray,
        style: StyleInputs,
        *,
        mask: np.ndarray | None = None,
        steps: int | None = None,
        strength: float | None = None,
        noise: NoiseSource | None = None,
        seed: int = 0,
        scheduler: Scheduler | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> Img2ImgResult:
        """Run on an RGB float32 (0..1) or uint8 image of the pack's size.

        Args:
            image: H×W×3 RGB at the pack's (width, height), px.
            style: embeddings and settings from Pack.style().
            mask: H×W, 1 where to regenerate, 0 where to keep the image (None: regenerate everything).
            steps: schedule length (default: the style's).
            strength: 0..1, how much of the schedule runs (default: the style's).
            noise: noise source (default: SeededNoise(seed)); draws happen in the reference order.
            seed: seed of the default noise source.
            scheduler: a fresh scheduler (default: the pack's).
            progress: called as progress(done, total) after each denoising step.
            cancel: polled before each step; True raises GenerationCancelled.
        """
        t_all = time.monotonic()
        timings = {"vae_encode": 0.0, "unet": 0.0, "vae_decode": 0.0, "scheduler": 0.0, "pre_post": 0.0}
        w, h = self.pack.size
        if image.ndim != 3 or image.shape != (h, w, 3):
            raise ValueError(f"image must be {h}×{w}×3 RGB (height × width) for this pack, got {image.shape}")
        if mask is not None and mask.shape != (h, w):
            raise ValueError(f"mask must be {h}×{w} (height × width), got {mask.shape}")
        steps = steps or style.steps
        strength = style.strength if strength is None else strength
        noise = noise or SeededNoise(seed)
        sched = scheduler or self.pack.scheduler()
        scaling = np.float32(self.pack.manifest.scaling_factor)
        t_shape = self.pack.static_shapes("unet")["timestep"]

        t0 = time.monotonic()
        pixels = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
        sample = (pixels.transpose(2, 0, 1)[None] * 2.0 - 1.0).astype(np.float32)
        timesteps, _ = sched.img2img_timesteps(steps, strength)
        m_lat = latent_mask(mask, self.pack.manifest.vae_scale_factor) if mask is not None else None
        timings["pre_post"] += time.monotonic() - t0

        t0 = time.monotonic()
        enc = self.sessions["vae_encoder"].run({"sample": sample})
        timings["vae_encode"] += time.monotonic() - t0
        image_latents = self._latent_mode(next(iter(enc.values()))) * scaling

        t0 = time.monotonic()
        first_noise = noise.draw(self.latent_shape)
        if m_lat is not None and strength >= 1.0:
            latents = (first_noise * np.float32(sched.init_noise_sigma)).astype(np.float32)
        else:
            latents = sched.add_noise(image_latents, first_noise, float(timesteps[0])).astype(np.float32)
        timings["scheduler"] += time.monotonic() - t0

        guided = style.guidance_scale > 1.0 and style.negative is not None
        total = len(timesteps)
        for i, t in enumerate(timesteps):
            if cancel is not None and cancel():
                raise GenerationCancelled(f"generation cancelled before step {i + 1} of {total}")
            t0 = time.monotonic()
            model_in = sched.scale_model_input(latents, float(t))
            tfeed = np.full(t_shape, t, dtype=np.float32)
            timings["scheduler"] += time.monotonic() - t0
            t0 = time.monotonic()
            pred = self._unet(model_in, tfeed, style.embeddings)
            if guided:
                assert style.negative is not None  # for mypy: guided implies a negative
                uncond = self._unet(model_in, tfeed, style.negative)
                pred = uncond + np.float32(style.guidance_scale) * (pred - uncond)
            timings["unet"] += time.monotonic() - t0
            t0 = time.monotonic()
            latents = sched.step(pred, float(t), latents, noise)
            if m_lat is not None:
                keep = image_latents
                if i < total - 1:
                    keep = sched.add_noise(image_latents, first_noise, float(timesteps[i + 1]))
                latents = ((1.0 - m_lat) * keep + m_lat * latents).astype(np.float32)
            timings["scheduler"] += time.monotonic() - t0
            if progress is not None:
                progress(i + 1, total)

        t0 = time.monotonic()
        dec = self.sessions["vae_decoder"].run({"latent_sample": (latents / scaling).astype(np.float32)})
        timings["vae_decode"] += time.monotonic() - t0
        t0 = time.monotonic()
        out = next(iter(dec.values()))[0].transpose(1, 2, 0)
        out = np.clip(out * 0.5 + 0.5, 0.0, 1.0).astype(np.float32)
        timings["pre_post"] += time.monotonic() - t0
        ms = {k: v * 1000.0 for k, v in timings.items()}
        ms["total"] = (time.monotonic() - t_all) * 1000.0
        return Img2ImgResult(image=out, steps_run=total, timesteps=[float(t) for t in timesteps], timings_ms=ms)

    def _unet(self, sample: np.ndarray, t: np.ndarray, emb: np.ndarray) -> np.ndarray:
        out = self.sessions["unet"].run({"sample": sample, "timestep": t, "encoder_hidden_states": emb})
        return next(iter(out.values())).astype(np.float32)

    def _latent_mode(self, encoded: np.ndarray) -> np.ndarray:
        """latent_sample as is; a (mean, logvar) moments output (2C channels) gives its mean (the mode)."""
        c = self.latent_shape[1]
        if encoded.shape[1] == 2 * c:
            return encoded[:, :c].astype(np.float32)
        if encoded.shape[1] != c:
            raise ModelError(f"vae_encoder returned {encoded.shape[1]} channels, the pack declares {c}")
        return encoded.astype(np.float32)

    def warm_up(self, style: StyleInputs) -> None:
        """One full masked run on a grey image (on top of each session's own warm-up)."""
        w, h = self.pack.size
        mask = np.zeros((h, w), np.float32)
        mask[: h // 2] = 1.0
        self(np.full((h, w, 3), 0.5, np.float32), style, mask=mask, steps=1, strength=1.0, seed=0)
