"""Lens calibration from chessboard captures: intrinsics, distortion and the undistortion maps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.errors import LensCalibrationError

MIN_VIEWS = 5


@dataclass(frozen=True)
class LensFit:
    """Pinhole intrinsics plus OpenCV's 5-term distortion (k1, k2, p1, p2, k3) for one image size."""

    camera_matrix: np.ndarray  # (3, 3) px
    distortion: np.ndarray  # (5,)
    image_size: tuple[int, int]  # width, height, px
    rms_px: float  # RMS reprojection error over all corners, px
    views_used: int


def find_corners(gray: np.ndarray, board: tuple[int, int]) -> np.ndarray | None:
    """Sub-pixel inner corners of a chessboard (board = inner corners per row, per column), or None."""
    flags = cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY
    found, corners = cv2.findChessboardCornersSB(gray, board, flags=flags)
    if not found:
        return None
    return np.asarray(corners, np.float32).reshape(-1, 1, 2)


def calibrate_lens(images: Sequence[np.ndarray], board: tuple[int, int], square_mm: float = 25.0) -> LensFit:
    """Fit intrinsics and distortion from BGR or grey chessboard captures of one size.

    Args:
        images: at least five views of the board at different angles and positions.
        board: inner corners (columns, rows), e.g. (9, 6) for a 10×7-square board.
        square_mm: side of one square, mm (only scales the board poses, not the result).
    """
    if not images:
        raise LensCalibrationError("no chessboard images given")
    size = (images[0].shape[1], images[0].shape[0])
    obj = np.zeros((board[0] * board[1], 3), np.float32)
    obj[:, :2] = np.mgrid[0 : board[0], 0 : board[1]].T.reshape(-1, 2) * square_mm
    obj_pts: list[np.ndarray] = []
    img_pts: list[np.ndarray] = []
    for i, img in enumerate(images):
        if (img.shape[1], img.shape[0]) != size:
            raise LensCalibrationError(
                f"image {i + 1} is {img.shape[1]}×{img.shape[0]}, the first is {size[0]}×{size[1]}: "
                "use one camera mode"
            )
        gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        corners = find_corners(gray, board)
        if corners is not None:
            obj_pts.append(obj)
            img_pts.append(corners)
    if len(obj_pts) < MIN_VIEWS:
        raise LensCalibrationError(
            f"the {board[0]}×{board[1]} chessboard was found in {len(obj_pts)} of {len(images)} images; "
            f"need at least {MIN_VIEWS}: check --board (inner corners) and show the whole board at "
            "varied angles"
        )
    # k3 stays 0: with a handful of views it mostly trades off against k1, k2 and runs away in the corners.
    rms, k, d, _, _ = cv2.calibrateCamera(obj_pts, img_pts, size, None, None, flags=cv2.CALIB_FIX_K3)
    if not np.isfinite(rms) or not np.all(np.isfinite(k)) or not np.all(np.isfinite(d)):
        raise LensCalibrationError("the lens fit did not converge: add views that tilt the board more")
    return LensFit(
        camera_matrix=np.asarray(k, np.float64),
        distortion=np.asarray(d, np.float64).ravel()[:5],
        image_size=size,
        rms_px=float(rms),
        views_used=len(obj_pts),
    )


def undistort_maps(
    camera_matrix: np.ndarray, distortion: np.ndarray, calib_size: tuple[int, int], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point remap tables undistorting frames of `size` (scaled intrinsics if it differs).

    The output keeps the input size; it is scaled just enough that no corner falls outside the source,
    so there are no smeared edges and the framing barely moves.
    """
    k = np.array(camera_matrix, np.float64)
    sx, sy = size[0] / calib_size[0], size[1] / calib_size[1]
    k[0] *= sx
    k[1] *= sy
    d = np.asarray(distortion, np.float64)
    # alpha=0: scale so every output pixel has a source pixel (no smeared corners), centre kept.
    new_k, _ = cv2.getOptimalNewCameraMatrix(k, d, size, 0.0, size, centerPrincipalPoint=False)
    map1, map2 = cv2.initUndistortRectifyMap(k, d, None, new_k, size, cv2.CV_16SC2)
    return map1, map2


def undistort(bgr: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Apply undistortion maps to one frame (edges outside the source are replicated)."""
    return cv2.remap(bgr, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
