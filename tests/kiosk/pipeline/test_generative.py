"""The generative headshot on real portraits with the tiny pack on CPU: the guest keeps their own face
(SSIM ≥ 0.9 against the input face), seeded determinism, provenance, and every fallback path."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.generation.base import Generated, GenerationCancelledError, GenerationFailed
from kiosk.generation.local import LocalGenerator
from kiosk.pipeline.generative import (
    GenerativePipeline,
    face_box,
    face_mask,
    laplacian_blend,
    match_colour,
    square_crop_box,
    ssim,
)
from kiosk.pipeline.imageio import encode_jpeg, load_image, read_jpeg_metadata
from models.runtime import OrtConfig
from models.vision import Face
from tests.conftest import artifacts_dir, portrait

PACK = Path(__file__).resolve().parents[2] / "fixtures" / "tiny_pack"
PEOPLE = (
    "nasa_woman_dark_skin_01.jpg",
    "whitehouse_man_older_white_hair_01.jpg",
    "house_woman_long_locs_01.jpg",
)


@pytest.fixture(scope="module")
def generator() -> LocalGenerator:
    return LocalGenerator(PACK, OrtConfig(providers=["cpu"]))


@pytest.fixture(scope="module")
def gen_pipe(studio, generator) -> GenerativePipeline:
    return GenerativePipeline(studio, generator)


def _input_face_ssim(result, photo: np.ndarray) -> float:
    """SSIM of the delivered face region against the input photo's face brought into the same frame."""
    spec = result.studio.spec
    ox, oy = spec.cell_origins()[0]
    cw, ch = spec.cell
    warped = cv2.warpAffine(photo, result.studio.transform, spec.cell, flags=cv2.INTER_AREA)
    face = result.studio.face.scaled(1.0, -ox, -oy)
    rows, cols = face_box(face, (ch, cw), inset=0.1)
    return ssim(result.image[oy : oy + ch, ox : ox + cw][rows, cols], warped[rows, cols])


@pytest.mark.parametrize("name", PEOPLE)
def test_guest_keeps_their_own_face(gen_pipe: GenerativePipeline, name: str) -> None:
    photo = load_image(portrait(name)).bgr
    steps: list[int] = []
    result = gen_pipe.headshot(photo, style="studio", fmt="portrait", seed=5, progress=lambda i, n: steps.append(i))
    assert result.generated, result.fallback_reason
    assert result.source_type == "ai-composite" and steps == [1]
    assert result.image.shape == result.studio.image.shape
    score = _input_face_ssim(result, photo)
    assert score >= 0.9, f"face SSIM {score:.3f} against the input photo"
    assert result.face_ssim is not None and result.face_ssim >= 0.9
    # Generation really changed the picture around the face (the tiny pack's random weights make noise).
    outside = 1.0 - face_mask(result.image.shape[:2], result.studio.face, result.studio.mask)
    diff = np.abs(result.image.astype(np.float32) - result.studio.image.astype(np.float32)).mean(axis=2)
    assert float((diff * outside).sum() / outside.sum()) > 5.0
    cv2.imwrite(
        str(artifacts_dir("generative") / name.replace(".jpg", ".jpg")),
        np.hstack([result.studio.image, result.image]),
    )


def test_print_layout_gets_the_composite_in_every_cell(gen_pipe: GenerativePipeline) -> None:
    photo = load_image(portrait(PEOPLE[0])).bgr
    result = gen_pipe.headshot(photo, style="office", fmt="print-4x6", seed=2)
    assert result.generated and result.image.shape[:2] == (1200, 1800)
    spec = result.studio.spec
    cw, ch = spec.cell
    (ax, ay), (bx, by) = spec.cell_origins()
    np.testing.assert_array_equal(result.image[ay : ay + ch, ax : ax + cw], result.image[by : by + ch, bx : bx + cw])
    assert _input_face_ssim(result, photo) >= 0.9


def test_same_seed_same_image(gen_pipe: GenerativePipeline) -> None:
    photo = load_image(portrait(PEOPLE[1])).bgr
    a = gen_pipe.headshot(photo, style="studio", seed=11)
    b = gen_pipe.headshot(photo, style="studio", seed=11)
    c = gen_pipe.headshot(photo, style="studio", seed=12)
    np.testing.assert_array_equal(a.image, b.image)
    assert float(np.abs(a.image.astype(int) - c.image.astype(int)).mean()) > 1.0
    assert a.seed == 11


def test_jpeg_says_ai_composite(gen_pipe: GenerativePipeline) -> None:
    result = gen_pipe.headshot(load_image(portrait(PEOPLE[0])).bgr, style="studio", seed=1)
    meta = read_jpeg_metadata(
        encode_jpeg(result.image, source_type=result.source_type, description=result.description())
    )
    xmp = str(meta.get("xmp"))
    assert "compositeWithTrainedAlgorithmicMedia" in xmp
    assert "seed 1" in xmp


class _Failing:
    resolution = 128

    def __init__(self, error: Exception) -> None:
        self.error = error

    def generate(self, *args: object, **kwargs: object) -> Generated:
        raise self.error

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("generator_obj", "reason"),
    [
        (None, "no model pack is installed"),
        (_Failing(GenerationFailed("the generation worker crashed (exit code -9)")), "crashed"),
        (_Failing(GenerationCancelledError("x")), "cancelled"),
        (_Failing(RuntimeError("CUDA out of memory")), "RuntimeError: CUDA out of memory"),
    ],
    ids=["no-pack", "crash", "cancel", "unexpected"],
)
def test_fallback_delivers_the_studio_result_with_a_reason(studio, generator_obj, reason: str) -> None:
    photo = load_image(portrait(PEOPLE[0])).bgr
    result = GenerativePipeline(studio, generator_obj).headshot(photo, style="studio", seed=1)
    assert not result.generated and reason in (result.fallback_reason or "")
    assert result.source_type == "edited"
    np.testing.assert_array_equal(result.image, result.studio.image)
    assert any(reason in n for n in result.notes)


def test_identity_guard_falls_back(studio, generator) -> None:
    photo = load_image(portrait(PEOPLE[0])).bgr
    result = GenerativePipeline(studio, generator, identity_min_ssim=0.9999).headshot(photo, style="studio", seed=1)
    assert not result.generated and "did not match the guest" in (result.fallback_reason or "")


def test_cancel_from_the_caller(gen_pipe: GenerativePipeline) -> None:
    photo = load_image(portrait(PEOPLE[0])).bgr
    result = gen_pipe.headshot(photo, style="studio", seed=1, steps=8, strength=1.0, cancel=lambda: True)
    assert result.fallback_reason == "generation was cancelled"


def test_unknown_pack_style_falls_back_naming_the_styles(gen_pipe: GenerativePipeline) -> None:
    result = gen_pipe.headshot(load_image(portrait(PEOPLE[0])).bgr, style="disco", seed=1)
    assert "choose one of" in (result.fallback_reason or "")


# -- the building blocks ---------------------------------------------------------------------------------


def test_laplacian_blend_limits_and_seam() -> None:
    rng = np.random.default_rng(0)
    fg = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    assert np.abs(laplacian_blend(fg, bg, np.ones((96, 128), np.float32)).astype(int) - fg).max() <= 1
    assert np.abs(laplacian_blend(fg, bg, np.zeros((96, 128), np.float32)).astype(int) - bg).max() <= 1
    flat_a = np.full((96, 128, 3), 40, np.uint8)
    flat_b = np.full((96, 128, 3), 200, np.uint8)
    mask = np.zeros((96, 128), np.float32)
    mask[:, :64] = 1
    out = laplacian_blend(flat_a, flat_b, mask).astype(int)
    steps = np.abs(np.diff(out[48, :, 0]))
    assert steps.max() < 60, "a hard seam survived the blend"


def test_match_colour_moves_only_the_mean_and_is_bounded() -> None:
    src = np.full((32, 32, 3), (90, 120, 160), np.uint8)
    src[::2] += 10
    ref = np.full((32, 32, 3), (200, 200, 200), np.uint8)
    out = match_colour(src, ref, np.ones((32, 32), np.float32), strength=1.0, max_shift=8.0)
    lab_in = cv2.cvtColor(src, cv2.COLOR_BGR2LAB).astype(float)
    lab_out = cv2.cvtColor(out, cv2.COLOR_BGR2LAB).astype(float)
    assert np.abs(lab_out.mean(axis=(0, 1)) - lab_in.mean(axis=(0, 1))).max() <= 8.5
    assert abs(lab_out[..., 0].std() - lab_in[..., 0].std()) < 1.0


def test_square_crop_stays_in_the_cell_and_holds_the_face() -> None:
    face = Face(500, 300, 300, 300, 0.9, {})
    x0, y0, side = square_crop_box((1200, 1500), face)
    assert side == 1200 and x0 == 0 and 0 <= y0 <= 300
    assert y0 <= face.y and face.y + face.h <= y0 + side


def test_ssim_basics() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, 255 - img) < 0.2


def test_roi_blend_leaves_no_seam_at_the_roi_edge() -> None:
    """The paste-back blends only a padded box around the face; its edge must equal the surroundings."""
    rng = np.random.default_rng(0)
    h, w = 600, 500
    studio_img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    generated = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    face = Face(150, 150, 200, 200, 0.9, {"right_eye": (205, 230), "left_eye": (295, 230)})
    fm = face_mask((h, w), face, np.ones((h, w), np.float32))
    ys, xs = np.nonzero(fm > 1e-3)
    roi = (slice(ys.min() - 32, ys.max() + 33), slice(xs.min() - 32, xs.max() + 33))
    out = laplacian_blend(studio_img[roi], generated[roi], fm[roi]).astype(int)
    ref = generated[roi].astype(int)
    edges = [
        np.abs(out[0] - ref[0]),
        np.abs(out[-1] - ref[-1]),
        np.abs(out[:, 0] - ref[:, 0]),
        np.abs(out[:, -1] - ref[:, -1]),
    ]
    assert max(int(e.max()) for e in edges) <= 1
    centre = (
        slice(230 - roi[0].start - 5, 230 - roi[0].start + 5),
        slice(250 - roi[1].start - 5, 250 - roi[1].start + 5),
    )
    assert np.abs(out[centre] - studio_img[roi][centre].astype(int)).max() <= 2
