import cv2
import numpy as np
import pytest

from calibration.errors import LensCalibrationError
from calibration.lens import calibrate_lens, find_corners, undistort, undistort_maps
from calibration.synthetic import LensScene, default_board_poses, render_chessboards

SCENE = LensScene()


@pytest.fixture(scope="module")
def boards():
    return render_chessboards(SCENE, default_board_poses(SCENE, 10, seed=1), seed=1)


@pytest.fixture(scope="module")
def fit(boards):
    return calibrate_lens(boards, SCENE.board, SCENE.square_mm)


def test_recovers_the_true_intrinsics(fit):
    k = fit.camera_matrix
    assert fit.views_used == 10
    assert fit.rms_px < 0.3
    assert k[0, 0] == pytest.approx(SCENE.focal_px, rel=0.01)
    assert k[1, 1] == pytest.approx(SCENE.focal_px, rel=0.01)
    assert abs(k[0, 2] - SCENE.center[0]) < 3
    assert abs(k[1, 2] - SCENE.center[1]) < 3
    assert fit.distortion[0] == pytest.approx(SCENE.distortion[0], abs=0.03)


def test_undistortion_map_matches_the_true_lens(fit):
    # Where each output pixel is fetched from, with the fitted and with the true lens: within a pixel.
    size = SCENE.size
    true_maps = undistort_maps(SCENE.camera_matrix, np.array(SCENE.distortion), size, size)
    fit_maps = undistort_maps(fit.camera_matrix, fit.distortion, fit.image_size, size)
    t = cv2.convertMaps(*true_maps, cv2.CV_32FC1)
    f = cv2.convertMaps(*fit_maps, cv2.CV_32FC1)
    err = np.hypot(t[0] - f[0], t[1] - f[1])
    assert float(np.percentile(err, 99)) < 1.0
    assert float(err.mean()) < 0.3


def _row_straightness(corners, board):
    """Worst distance of a board row's corners from the straight line through them, px."""
    pts = corners.reshape(board[1], board[0], 2)
    worst = 0.0
    for row in pts:
        centred = row - row.mean(axis=0)
        _, s, _ = np.linalg.svd(centred, full_matrices=False)
        worst = max(worst, float(s[1] / np.sqrt(len(row))))
    return worst


def test_undistorted_frames_have_straight_lines(fit):
    # A big board near the frame edge bends visibly; after undistortion its rows are straight.
    pose = (np.array([0.05, -0.1, 0.02]), np.array([-120.0, -95.0, 330.0]))
    img = render_chessboards(SCENE, [pose], seed=5)[0]
    before = find_corners(img, SCENE.board)
    assert before is not None
    after_img = undistort(img, undistort_maps(fit.camera_matrix, fit.distortion, fit.image_size, SCENE.size))
    after = find_corners(after_img, SCENE.board)
    assert after is not None
    assert _row_straightness(before, SCENE.board) > 1.0
    assert _row_straightness(after, SCENE.board) < 0.25


def test_scaled_frames_use_scaled_intrinsics(fit):
    # A 2× capture mode of the same sensor: undistortion still straightens (maps scale with the frame).
    maps = undistort_maps(fit.camera_matrix, fit.distortion, fit.image_size, (1280, 960))
    assert maps[0].shape[:2] == (960, 1280)


def test_too_few_views_is_a_clear_error(boards):
    with pytest.raises(LensCalibrationError, match="found in 3 of 3"):
        calibrate_lens(boards[:3], SCENE.board)


def test_wrong_board_size_is_a_clear_error(boards):
    with pytest.raises(LensCalibrationError, match="check --board"):
        calibrate_lens(boards[:6], (7, 7))


def test_mixed_image_sizes_are_refused(boards):
    small = cv2.resize(boards[1], (320, 240))
    with pytest.raises(LensCalibrationError, match="one camera mode"):
        calibrate_lens([boards[0], small], SCENE.board)
