"""The numpy + ONNX Runtime pipeline on packs built by build-pack, against diffusers' own pipelines.

Both sides run the tiny random checkpoint (tests/fixtures/tiny_diffusers) with the same noise: every array
our pipeline draws is recorded, and diffusers' randn_tensor replays them in order. One deliberate
difference from a default diffusers run: the pack's vae_encoder exports the latent distribution's mode (a
deterministic graph), so diffusers' retrieve_latents is run in "argmax" mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.diffusion.noise import SeededNoise
from models.diffusion.pack import Pack, load_pack
from models.diffusion.pipeline import GenerationCancelled, Img2ImgPipeline, latent_mask
from models.runtime import OrtConfig, make_runtime
from tests.conftest import TINY_CHECKPOINT, TINY_SIZE

torch = pytest.importorskip("torch", reason="the export extra (torch, diffusers) is installed by ./run.sh test")
diffusers = pytest.importorskip("diffusers")

W, H = TINY_SIZE


class RecordingNoise:
    """SeededNoise that keeps every array it hands out, for the reference pipeline to replay."""

    def __init__(self, seed: int) -> None:
        self._inner = SeededNoise(seed)
        self.draws: list[np.ndarray] = []

    def draw(self, shape: tuple[int, ...]) -> np.ndarray:
        arr = self._inner.draw(shape)
        self.draws.append(arr.copy())
        return arr


def _photo_like(seed: int = 3) -> np.ndarray:
    """A smooth, structured RGB image (gradients and a disc) at the pack's size, float32 0..1."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rng = np.random.default_rng(seed)
    img = np.stack([xx / W, yy / H, 0.5 + 0.4 * np.sin(xx / 9 + yy / 13)], axis=-1)
    disc = ((xx - W * 0.5) ** 2 + (yy - H * 0.4) ** 2) < (W * 0.25) ** 2
    img[disc] = [0.8, 0.6, 0.5]
    return np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1).astype(np.float32)


def _mask() -> np.ndarray:
    """1 outside an upright ellipse (regenerate), 0 inside (keep), like a head mask."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    head = ((xx - W * 0.5) / (W * 0.28)) ** 2 + ((yy - H * 0.38) / (H * 0.3)) ** 2 < 1
    return (~head).astype(np.float32)


@pytest.fixture()
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[np.ndarray]]:
    """Make diffusers draw from a list (filled by the test) and encode with the latent mode."""
    from diffusers.pipelines.latent_consistency_models import pipeline_latent_consistency_img2img as lcm_pipe
    from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_img2img as img2img
    from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_inpaint as inpaint
    from diffusers.schedulers import scheduling_euler_ancestral_discrete as ea
    from diffusers.schedulers import scheduling_lcm as lcm_sched

    queue: list[np.ndarray] = []

    def randn_tensor(shape: Any, generator: Any = None, device: Any = None, dtype: Any = None, **_: Any) -> Any:
        arr = queue.pop(0)
        assert tuple(arr.shape) == tuple(shape), f"draw of shape {arr.shape}, diffusers asked for {tuple(shape)}"
        return torch.from_numpy(arr).to(dtype=dtype or torch.float32)

    for mod in (img2img, inpaint, lcm_pipe, ea, lcm_sched):
        monkeypatch.setattr(mod, "randn_tensor", randn_tensor)
        if hasattr(mod, "retrieve_latents"):
            original = mod.retrieve_latents

            def mode(out: Any, generator: Any = None, sample_mode: str = "sample", _o: Any = original) -> Any:
                return _o(out, generator, "argmax")

            monkeypatch.setattr(mod, "retrieve_latents", mode)
    yield queue
    assert queue == [], "diffusers drew fewer noise arrays than our pipeline"


def _ours(pack: Pack, style: str, image: np.ndarray, mask: np.ndarray | None, steps: int, strength: float,
          seed: int = 11) -> tuple[np.ndarray, RecordingNoise, Img2ImgPipeline]:
    pipe = Img2ImgPipeline(pack, make_runtime(OrtConfig(providers=["cpu"])))
    noise = RecordingNoise(seed)
    res = pipe(image, pack.style(style), mask=mask, steps=steps, strength=strength, noise=noise)
    assert res.steps_run == len(res.timesteps) > 0
    return res.image, noise, pipe


def _reference(kind: str, pack: Pack, style: str, image: np.ndarray, mask: np.ndarray | None, steps: int,
               strength: float) -> np.ndarray:
    from diffusers import (
        EulerDiscreteScheduler,
        LatentConsistencyModelImg2ImgPipeline,
        LCMScheduler,
        StableDiffusionImg2ImgPipeline,
        StableDiffusionInpaintPipeline,
    )

    sched_cls = LCMScheduler if pack.manifest.scheduler.name == "lcm" else EulerDiscreteScheduler
    scheduler = sched_cls.from_config(pack.scheduler_config)
    emb = torch.from_numpy(pack.style(style).embeddings)
    common = {"prompt_embeds": emb, "num_inference_steps": steps, "strength": strength, "output_type": "np"}
    with torch.no_grad():
        if kind == "img2img":
            pipe = StableDiffusionImg2ImgPipeline.from_pretrained(TINY_CHECKPOINT, scheduler=scheduler,
                                                                  safety_checker=None)
            out = pipe(image=image[None], guidance_scale=0.0, **common).images
        elif kind == "inpaint":
            pipe = StableDiffusionInpaintPipeline.from_pretrained(TINY_CHECKPOINT, scheduler=scheduler,
                                                                  safety_checker=None)
            out = pipe(image=image[None], mask_image=mask[None, :, :, None], height=H, width=W, guidance_scale=0.0,
                       **common).images
        else:
            pipe = LatentConsistencyModelImg2ImgPipeline.from_pretrained(TINY_CHECKPOINT, scheduler=scheduler,
                                                                         safety_checker=None)
            # LCM-LoRA packs use a plain UNet, which has no guidance embedding input: the pipeline's own
            # loop runs with that embedding switched off.
            unet = pipe.unet
            pipe.get_guidance_scale_embedding = lambda w, embedding_dim=None, dtype=None: torch.zeros(1)
            plain = unet.forward
            unet.forward = lambda *a, timestep_cond=None, **k: plain(*a, **k)
            out = pipe(image=image[None], guidance_scale=1.0, **common).images
    return np.asarray(out[0], np.float32)


@pytest.mark.parametrize(
    ("kind", "steps", "strength"),
    [("img2img", 2, 0.5), ("img2img", 4, 0.75), ("inpaint", 4, 0.75), ("inpaint", 2, 1.0)],
)
def test_turbo_pack_matches_diffusers(tiny_pack: Path, replay: list[np.ndarray], kind: str, steps: int,
                                      strength: float) -> None:
    pack = load_pack(tiny_pack)
    image = _photo_like()
    mask = _mask() if kind == "inpaint" else None
    ours, noise, _ = _ours(pack, "corporate", image, mask, steps, strength)
    replay.extend(noise.draws)
    ref = _reference(kind, pack, "corporate", image, mask, steps, strength)
    assert ref.shape == ours.shape == (H, W, 3)
    mae = float(np.abs(ours - ref).mean())
    assert mae <= 1e-3, f"MAE {mae:.2e} against diffusers' {kind} pipeline"
    # The same fp32 arithmetic on both sides agrees to ~1e-7; the random decoder's narrow output range
    # would let a wrong step slip under 1e-3 (a mask blend without re-noising gives 1.9e-3), so also:
    assert float(np.abs(ours - ref).max()) <= 1e-4
    assert float(ref.std()) > 0.05  # not a flat image: the comparison means something


def test_lcm_pack_matches_diffusers_lcm_img2img(tiny_lcm_pack: Path, replay: list[np.ndarray]) -> None:
    pack = load_pack(tiny_lcm_pack)
    image = _photo_like(5)
    ours, noise, _ = _ours(pack, "corporate", image, None, 4, 0.5)
    assert len(noise.draws) == 4  # the start noise and one per step but the last
    replay.extend(noise.draws)
    ref = _reference("lcm", pack, "corporate", image, None, 4, 0.5)
    mae = float(np.abs(ours - ref).mean())
    assert mae <= 1e-3, f"MAE {mae:.2e} against LatentConsistencyModelImg2ImgPipeline"
    assert float(np.abs(ours - ref).max()) <= 1e-4


def test_lcm_schedule_is_the_lcm_img2img_pipelines(tiny_lcm_pack: Path) -> None:
    sched = load_pack(tiny_lcm_pack).scheduler()
    timesteps, _ = sched.img2img_timesteps(4, 0.5)
    assert timesteps.tolist() == [499, 379, 259, 139]
    from diffusers import LCMScheduler

    ref = LCMScheduler.from_config(load_pack(tiny_lcm_pack).scheduler_config)
    for steps, strength in [(4, 0.5), (4, 0.75), (2, 0.8), (6, 1.0)]:
        ref.set_timesteps(steps, strength=strength)
        assert sched.img2img_timesteps(steps, strength)[0].tolist() == ref.timesteps.tolist()


def test_masked_generation_keeps_the_unmasked_latents(tiny_pack: Path) -> None:
    """Outside the mask, the final latents are the image's own: the decoded image there is its reconstruction."""
    pack = load_pack(tiny_pack)
    pipe = Img2ImgPipeline(pack, make_runtime(OrtConfig(providers=["cpu"])))
    image = _photo_like()
    mask = _mask()
    a = pipe(image, pack.style("corporate"), mask=mask, steps=4, strength=1.0, seed=1).image
    b = pipe(image, pack.style("corporate"), mask=mask, steps=4, strength=1.0, seed=2).image
    keep = latent_mask(1.0 - mask, pack.manifest.vae_scale_factor)[0, 0] > 0.5
    inner = np.kron(keep, np.ones((8, 8))).astype(bool)
    inner = inner & np.roll(inner, 16, 0) & np.roll(inner, -16, 0) & np.roll(inner, 16, 1) & np.roll(inner, -16, 1)
    assert inner.sum() > 200
    # Different seeds: the kept region agrees (only the decoder's receptive field at its border differs) ...
    assert float(np.abs(a - b)[inner].mean()) < 0.02
    # ... while the regenerated region does not.
    assert float(np.abs(a - b)[mask > 0.5].mean()) > 0.05


def test_same_seed_same_image_different_seed_different_image(tiny_pack: Path) -> None:
    pack = load_pack(tiny_pack)
    pipe = Img2ImgPipeline(pack, make_runtime(OrtConfig(providers=["cpu"])))
    style = pack.style("corporate")
    a = pipe(_photo_like(), style, seed=3).image
    b = pipe(_photo_like(), style, seed=3).image
    c = pipe(_photo_like(), style, seed=4).image
    np.testing.assert_array_equal(a, b)
    assert float(np.abs(a - c).mean()) > 1e-3


def test_cancel_between_steps(tiny_pack: Path) -> None:
    pack = load_pack(tiny_pack)
    pipe = Img2ImgPipeline(pack, make_runtime(OrtConfig(providers=["cpu"])))
    seen: list[int] = []
    with pytest.raises(GenerationCancelled, match="step 3 of 4"):
        pipe(_photo_like(), pack.style("corporate"), steps=4, strength=1.0,
             progress=lambda i, n: seen.append(i), cancel=lambda: len(seen) >= 2)
    assert seen == [1, 2]


def test_wrong_image_or_mask_size_is_refused(tiny_pack: Path) -> None:
    pack = load_pack(tiny_pack)
    pipe = Img2ImgPipeline(pack, make_runtime(OrtConfig(providers=["cpu"])))
    with pytest.raises(ValueError, match=f"{H}×{W}×3"):
        pipe(np.zeros((W, H, 3), np.float32), pack.style("corporate"))
    with pytest.raises(ValueError, match="mask"):
        pipe(_photo_like(), pack.style("corporate"), mask=np.zeros((10, 10), np.float32))


def test_timings_cover_the_stages(tiny_pack: Path) -> None:
    pack = load_pack(tiny_pack)
    pipe = Img2ImgPipeline(pack, make_runtime(OrtConfig(providers=["cpu"])))
    res = pipe(_photo_like(), pack.style("corporate"), mask=_mask(), steps=2, strength=1.0)
    t = res.timings_ms
    assert {"vae_encode", "unet", "vae_decode", "scheduler", "pre_post", "total"} <= set(t)
    assert t["total"] >= res.network_ms > 0
