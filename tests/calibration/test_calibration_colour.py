import dataclasses

import cv2
import numpy as np
import pytest

from calibration.chart import NEUTRAL, REFERENCE_LAB_D50, REFERENCE_LINEAR_SRGB
from calibration.colorspace import linear_srgb_to_lab
from calibration.colour import (
    apply_fit,
    calibrate_color,
    detect_chart,
    fit_color,
    sample_patches,
    score_linear,
    score_sample,
)
from calibration.errors import ChartNotFound
from calibration.synthetic import ChartScene, grid_corners, render_chart

# Each scene: the light, the camera's misreading of it, and a pose. Exposures are what a camera's
# auto-exposure would pick so that the brightest channel of the white patch does not clip.
SCENES = {
    "daylight-D65": ChartScene(seed=1),
    "tungsten-A-2856K": ChartScene(illuminant="A", exposure=0.5, seed=2),
    "fluorescent-F2-underexposed": ChartScene(illuminant="F2", exposure=0.45, seed=3),
    "triphosphor-F11": ChartScene(illuminant="F11", exposure=0.8, seed=4),
    "green-cast": ChartScene(cast_gains=(0.8, 1.15, 0.85), exposure=0.8, seed=5),
    "tungsten-small-tilted-noisy": ChartScene(
        illuminant="A", exposure=0.45, noise=0.006, chart_width_frac=0.32, tilt_deg=(22, 18, -12), seed=6
    ),
    "magenta-cast-bright-soft": ChartScene(cast_gains=(1.1, 0.85, 1.05), exposure=0.85, blur_px=2.0, seed=7),
}


def _holdout(scene: ChartScene) -> ChartScene:
    """Same light and camera, another capture: new pose, new noise."""
    return dataclasses.replace(scene, seed=scene.seed + 100, tilt_deg=(-6.0, 10.0, 3.0), center=(0.45, 0.5))


def test_reference_chart_is_consistent():
    assert REFERENCE_LAB_D50.shape == (24, 3)
    # The grey row runs from white to black and is (nearly) neutral.
    lum = REFERENCE_LAB_D50[list(NEUTRAL), 0]
    assert np.all(np.diff(lum) < 0)
    assert np.all(np.abs(REFERENCE_LAB_D50[list(NEUTRAL), 1:]) < 3.5)
    np.testing.assert_allclose(linear_srgb_to_lab(REFERENCE_LINEAR_SRGB), REFERENCE_LAB_D50, atol=1e-6)
    # The chart scored against itself is perfect, except cyan, which lies just outside sRGB.
    score = score_linear(REFERENCE_LINEAR_SRGB)
    assert score.delta_e[np.arange(24) != 17].max() < 1e-6
    assert 0 < score.delta_e[17] < 5


@pytest.mark.parametrize("name", list(SCENES))
def test_correction_meets_delta_e_targets(name):
    scene = SCENES[name]
    cal = calibrate_color(render_chart(scene))
    assert not cal.clipped_patches
    # The uncorrected capture is visibly wrong, so passing below is the correction's doing.
    assert cal.before.mean > 3.0
    assert cal.after.mean <= 2.0, cal.after.as_dict()
    assert cal.after.max <= 5.0, cal.after.as_dict()
    # The same profile on another capture under the same light (never seen by the fit).
    corrected = apply_fit(render_chart(_holdout(scene)), cal.fit)
    held = score_sample(detect_chart(corrected))
    assert held.mean <= 2.0, held.as_dict()
    assert held.max <= 5.0, held.as_dict()
    # Skin tones get extra weight: both skin patches land well inside the limits.
    assert max(held.delta_e[0], held.delta_e[1]) <= 2.0


def test_root_polynomial_model_also_meets_targets():
    scene = SCENES["tungsten-A-2856K"]
    cal = calibrate_color(render_chart(scene), model="root-polynomial")
    assert cal.fit.ccm.shape == (3, 6)
    assert cal.after.mean <= 2.0 and cal.after.max <= 5.0


def test_detector_finds_the_patch_grid_where_it_was_rendered():
    scene = SCENES["tungsten-small-tilted-noisy"]
    sample = detect_chart(render_chart(scene))
    truth = grid_corners(scene)
    width = np.linalg.norm(truth[1] - truth[0])
    assert np.max(np.linalg.norm(sample.corners - truth, axis=1)) < 0.04 * width


def test_upside_down_chart_is_read_in_the_right_order():
    scene = dataclasses.replace(SCENES["daylight-D65"], tilt_deg=(10.0, -6.0, 182.0))
    cal = calibrate_color(render_chart(scene))
    assert cal.after.mean <= 2.0
    # Patch 1 (dark skin) is read as dark skin, not as the black patch the other way round.
    assert cal.sample.rgb[0].mean() > cal.sample.rgb[23].mean() * 1.5


def test_fit_inverts_a_known_camera_matrix_exactly():
    mix = np.array([[0.7, 0.25, 0.05], [0.1, 0.8, 0.1], [0.05, 0.3, 0.65]])
    gains = np.array([1.6, 1.0, 0.55])
    measured = (REFERENCE_LINEAR_SRGB @ mix.T) * gains * 0.6
    fit = fit_color(measured)
    score = score_linear(fit.apply_linear(measured))
    assert score.mean < 0.3


def test_image_correction_matches_patch_correction():
    img = render_chart(SCENES["green-cast"])
    cal = calibrate_color(img)
    out = apply_fit(img, cal.fit)
    resampled = sample_patches(out, cal.sample.corners)
    predicted = score_linear(cal.fit.apply_linear(cal.sample.linear))
    assert abs(score_sample(resampled).mean - predicted.mean) < 0.3


def test_clipped_patches_are_reported_and_left_out():
    cal = calibrate_color(render_chart(ChartScene(illuminant="A", exposure=0.9, seed=8)))
    assert "white 9.5" in cal.clipped_patches
    # The fit still holds for the patches that were measured.
    ok = ~cal.sample.clipped
    assert float(np.mean(cal.after.delta_e[ok])) <= 2.0


def test_no_chart_is_a_clear_error():
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 3)
    with pytest.raises(ChartNotFound, match="no ColorChecker"):
        detect_chart(noise)
    with pytest.raises(ChartNotFound, match="8-bit colour"):
        detect_chart(np.zeros((100, 100), np.uint8))


def test_chart_cut_by_the_frame_edge_is_refused():
    img = render_chart(dataclasses.replace(SCENES["daylight-D65"], center=(0.5, 0.52)))
    # Crop so the right-hand column of patches is cut off.
    corners = grid_corners(SCENES["daylight-D65"])
    cut = img[:, : int(corners[:, 0].max() - 25)].copy()
    with pytest.raises(ChartNotFound):
        detect_chart(cut)
