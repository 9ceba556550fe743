"""`kiosk generate` end to end against diffusers: the model input, mask and seed it used, run through
diffusers' own StableDiffusionInpaintPipeline with the same noise, give the same picture (MAE ≤ 1e-3).

The CLI writes its stages with --save-stages; the reference replays numpy's PCG64 draws for the seed the CLI
reports (the pipeline's one draw for Euler: the start noise) through diffusers' randn_tensor.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.diffusion.noise import SeededNoise
from models.diffusion.pack import load_pack
from tests.conftest import TINY_CHECKPOINT, kiosk_env, portrait

torch = pytest.importorskip("torch", reason="the export extra (torch, diffusers) is installed by ./run.sh test")
pytest.importorskip("diffusers")


def test_kiosk_generate_matches_diffusers_inpainting(
    isolated_env: Path, tiny_pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from diffusers import EulerDiscreteScheduler, StableDiffusionInpaintPipeline
    from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_inpaint as inpaint

    stages = tmp_path / "stages"
    cmd = [sys.executable, "-m", "kiosk", "generate", str(portrait("nasa_man_hispanic_mustache_01.jpg")),
           "-o", str(tmp_path / "out.jpg"), "--pack", str(tiny_pack), "--style", "corporate", "--seed", "42",
           "--save-stages", str(stages), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=kiosk_env(), timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["seed"] == 42 and summary["generated"] is False  # random weights: the gate refuses
    image, mask, ours = (np.load(stages / f"{n}.npy") for n in ("input", "mask", "output"))
    assert 0.2 < float(mask.mean()) < 0.95  # backdrop and clothes regenerated, the head kept

    pack = load_pack(tiny_pack)
    style = pack.style("corporate")
    draws = [SeededNoise(42).draw(pack.latent_shape)]

    def randn_tensor(shape: Any, generator: Any = None, device: Any = None, dtype: Any = None, **_: Any) -> Any:
        return torch.from_numpy(draws.pop(0)).to(dtype=dtype or torch.float32)

    original = inpaint.retrieve_latents

    def mode(out: Any, generator: Any = None, sample_mode: str = "sample") -> Any:
        return original(out, generator, "argmax")  # the pack's encoder exports the distribution's mode

    monkeypatch.setattr(inpaint, "randn_tensor", randn_tensor)
    monkeypatch.setattr(inpaint, "retrieve_latents", mode)
    pipe = StableDiffusionInpaintPipeline.from_pretrained(
        TINY_CHECKPOINT, scheduler=EulerDiscreteScheduler.from_config(pack.scheduler_config), safety_checker=None)
    h, w = image.shape[:2]
    with torch.no_grad():
        ref = pipe(prompt_embeds=torch.from_numpy(style.embeddings), image=image[None],
                   mask_image=mask[None, :, :, None], height=h, width=w, num_inference_steps=style.steps,
                   strength=style.strength, guidance_scale=0.0,
                   output_type="np").images[0]
    assert draws == []
    mae = float(np.abs(ours - ref).mean())
    assert mae <= 1e-3, f"kiosk generate differs from diffusers' inpainting by MAE {mae:.2e}"
    assert float(np.abs(ours - ref).max()) <= 1e-4
