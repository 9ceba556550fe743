"""img2img over numpy arrays: VAE encode → noise at the start step → N denoising steps → VAE decode.

The arithmetic follows the reference PyTorch img2img pipeline (StableDiffusionImg2ImgPipeline): the
same start-step rule, input normalisation, latent scaling, classifier-free guidance and output
denormalisation, so that for the same noise the outputs agree (tests check MAE ≤ 1e-3 on the tiny pack).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from models.diffusion.noise import NoiseSource, SeededNoise
from models.diffusion.pack import Pack, StyleInputs
from models.diffusion.schedulers import Scheduler
from models.errors import ModelError
from models.runtime.base import GraphSession, Runtime

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class GenerationCancelled(ModelError):
    """The caller cancelled a generation between two steps."""


@dataclass
class Img2ImgResult:
    """Output image (RGB float32 0..1, resolution × resolution) and where the time went."""

    image: np.ndarray
    steps_run: int
    timesteps: list[float]
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def network_ms(self) -> float:
        """Time inside the graph runtime (encoder, denoiser, decoder)."""
        return sum(v for k, v in self.timings_ms.items() if k in ("vae_encode", "unet", "vae_decode"))

    @property
    def total_ms(self) -> float:
        """Wall time of the whole call."""
        return self.timings_ms.get("total", 0.0)


class Img2ImgPipeline:
    """Loads a pack's three graphs once (static shapes, warmed up) and runs seeded img2img jobs."""

    def __init__(self, pack: Pack, runtime: Runtime) -> None:
        self.pack = pack
        m = pack.manifest
        r, lat, te = m.resolution, pack.latent_size, m.text_embeddings
        self.latent_shape = (1, m.latent_channels, lat, lat)
        self.unet: GraphSession = runtime.load(
            pack.component("unet"),
            {"sample": self.latent_shape, "timestep": (1,), "encoder_hidden_states": (1, te.tokens, te.dim)},
        )
        self.encoder: GraphSession = runtime.load(pack.component("vae_encoder"), {"sample": (1, 3, r, r)})
        self.decoder: GraphSession = runtime.load(
            pack.component("vae_decoder"), {"latent_sample": self.latent_shape}
        )
        for sess, names in (
            (self.unet, {"sample", "timestep", "encoder_hidden_states"}),
            (self.encoder, {"sample"}),
            (self.decoder, {"latent_sample"}),
        ):
            if set(sess.inputs) != names:
                raise ModelError(
                    f"pack graph inputs {sorted(sess.inputs)} differ from the expected {sorted(names)}"
                )

    def __call__(
        self,
        image: np.ndarray,
        style: StyleInputs,
        *,
        steps: int | None = None,
        strength: float | None = None,
        noise: NoiseSource | None = None,
        seed: int = 0,
        scheduler: Scheduler | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> Img2ImgResult:
        """Run img2img on an RGB float32 (0..1) or uint8 image of the pack's resolution.

        Args:
            image: H×W×3 RGB, H = W = the pack's resolution (px).
            style: embeddings and settings from Pack.style().
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
        r = self.pack.manifest.resolution
        if image.ndim != 3 or image.shape != (r, r, 3):
            raise ValueError(f"image must be {r}×{r}×3 RGB for this pack, got {image.shape}")
        steps = steps or style.steps
        strength = style.strength if strength is None else strength
        noise = noise or SeededNoise(seed)
        sched = scheduler or self.pack.scheduler()
        scaling = self.pack.manifest.scaling_factor

        t0 = time.monotonic()
        pixels = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
        sample = (pixels.transpose(2, 0, 1)[None] * 2.0 - 1.0).astype(np.float32)
        timesteps, _ = sched.img2img_timesteps(steps, strength)
        timings["pre_post"] += time.monotonic() - t0

        t0 = time.monotonic()
        enc = self.encoder.run({"sample": sample})
        timings["vae_encode"] += time.monotonic() - t0
        latents = self._latent_mode(next(iter(enc.values()))) * np.float32(scaling)

        t0 = time.monotonic()
        latents = sched.add_noise(latents, noise.draw(self.latent_shape), float(timesteps[0])).astype(
            np.float32
        )
        timings["scheduler"] += time.monotonic() - t0

        guided = style.guidance_scale > 1.0 and style.negative is not None
        total = len(timesteps)
        for i, t in enumerate(timesteps):
            if cancel is not None and cancel():
                raise GenerationCancelled(f"generation cancelled before step {i + 1} of {total}")
            t0 = time.monotonic()
            model_in = sched.scale_model_input(latents, float(t))
            tfeed = np.asarray([t], dtype=np.float32)
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
            timings["scheduler"] += time.monotonic() - t0
            if progress is not None:
                progress(i + 1, total)

        t0 = time.monotonic()
        dec = self.decoder.run({"latent_sample": (latents / np.float32(scaling)).astype(np.float32)})
        timings["vae_decode"] += time.monotonic() - t0
        t0 = time.monotonic()
        out = next(iter(dec.values()))[0].transpose(1, 2, 0)
        out = np.clip(out * 0.5 + 0.5, 0.0, 1.0).astype(np.float32)
        timings["pre_post"] += time.monotonic() - t0
        ms = {k: v * 1000.0 for k, v in timings.items()}
        ms["total"] = (time.monotonic() - t_all) * 1000.0
        return Img2ImgResult(
            image=out, steps_run=total, timesteps=[float(t) for t in timesteps], timings_ms=ms
        )

    def _unet(self, sample: np.ndarray, t: np.ndarray, emb: np.ndarray) -> np.ndarray:
        out = self.unet.run({"sample": sample, "timestep": t, "encoder_hidden_states": emb})
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
        """One full run on a grey image (on top of each session's own warm-up)."""
        r = self.pack.manifest.resolution
        self(np.full((r, r, 3), 0.5, np.float32), style, steps=1, strength=1.0, seed=0)
