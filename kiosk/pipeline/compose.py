"""Headshot composition: one similarity transform (roll, scale, placement) from photo to cell."""

from __future__ import annotations

import math

import cv2
import numpy as np

from kiosk.pipeline.formats import FormatSpec
from models.vision import Face

MAX_FILL_ZOOM = 1.5


def headshot_transform(face: Face, spec: FormatSpec, photo_size: tuple[int, int] | None = None) -> np.ndarray:
    """2×3 affine matrix mapping photo pixels to cell pixels by the format's rule.

    Where the photo would end inside the cell (at the sides or the bottom), the head is enlarged
    about the eye point, up to MAX_FILL_ZOOM × the rule's size, so the guest's shoulders fill the frame;
    the eye line stays where the rule puts it.
    """
    matrix = _rule_transform(face, spec, 1.0)
    if photo_size is None:
        return matrix
    zoom = _fill_zoom(matrix, spec, photo_size)
    return _rule_transform(face, spec, zoom) if zoom > 1.0 else matrix


def _fill_zoom(matrix: np.ndarray, spec: FormatSpec, photo_size: tuple[int, int]) -> float:
    cw, ch = spec.cell
    pw, ph = photo_size
    corners = np.array([[0, 0, 1], [pw, 0, 1], [0, ph, 1], [pw, ph, 1]], np.float64) @ matrix.T
    tx, ty = cw / 2.0, spec.eye_line * ch
    need = 1.0
    left, right, bottom = corners[:, 0].min(), corners[:, 0].max(), corners[:, 1].max()
    if left > 0 and tx - left > 1:
        need = max(need, tx / (tx - left))
    if right < cw and right - tx > 1:
        need = max(need, (cw - tx) / (right - tx))
    if bottom < ch and bottom - ty > 1:
        need = max(need, (ch - ty) / (bottom - ty))
    return min(need, MAX_FILL_ZOOM)


def _rule_transform(face: Face, spec: FormatSpec, zoom: float) -> np.ndarray:
    cw, ch = spec.cell
    scale = zoom * spec.face_height * ch / max(face.h, 1.0)
    theta = math.radians(face.roll_deg)
    cos_t, sin_t = math.cos(theta) * scale, math.sin(theta) * scale
    ex, ey = face.eye_center
    tx, ty = cw / 2.0, spec.eye_line * ch
    # Rotate by -roll about the eye centre, scale, then move the eye centre to its target.
    return np.array(
        [[cos_t, sin_t, tx - cos_t * ex - sin_t * ey],
         [-sin_t, cos_t, ty + sin_t * ex - cos_t * ey]],
        dtype=np.float64,
    )


def transform_face(face: Face, matrix: np.ndarray) -> Face:
    """The face's box and keypoints mapped through an affine matrix (box stays axis-aligned)."""
    def tp(x: float, y: float) -> tuple[float, float]:
        return (float(matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]),
                float(matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]))

    scale = math.hypot(matrix[0, 0], matrix[0, 1])
    cx, cy = tp(*face.center)
    w, h = face.w * scale, face.h * scale
    return Face(cx - w / 2, cy - h / 2, w, h, face.score, {k: tp(*p) for k, p in face.keypoints.items()})


def warp_to_cell(
    bgr: np.ndarray, matrix: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Warp the photo into the cell; return (image with replicated borders, float32 validity 0..1).

    The validity is None when the photo covers the whole cell.

    Only the part of the photo that lands in the cell is touched: it is cropped first, and shrunk with
    area averaging when the warp would otherwise alias.
    """
    cw, ch = size
    ph, pw = bgr.shape[:2]
    inv = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [cw, 0, 1], [0, ch, 1], [cw, ch, 1]], np.float64) @ inv.T
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(pw, x1), min(ph, y1)
    src = bgr[y0:y1, x0:x1]
    m = matrix.copy()
    m[:, 2] += m[:, 0] * x0 + m[:, 1] * y0
    scale = math.hypot(matrix[0, 0], matrix[0, 1])
    if scale < 0.5:
        pre = min(1.0, 2.0 * scale)
        src = cv2.resize(src, None, fx=pre, fy=pre, interpolation=cv2.INTER_AREA)
        m[:, :2] /= pre
    out = cv2.warpAffine(src, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (corners[:, 0].min() >= 0 and corners[:, 1].min() >= 0
              and corners[:, 0].max() <= pw and corners[:, 1].max() <= ph)
    if inside:
        return out, None
    # Validity at quarter resolution is plenty: it only drives a soft fade where the photo ends.
    q = 4
    sh, sw = max(1, src.shape[0] // q), max(1, src.shape[1] // q)
    mq = np.empty_like(m)
    mq[:, 0] = m[:, 0] * (src.shape[1] / sw) / q
    mq[:, 1] = m[:, 1] * (src.shape[0] / sh) / q
    mq[:, 2] = m[:, 2] / q
    valid = cv2.warpAffine(np.full((sh, sw), 255, np.uint8), mq, (max(1, cw // q), max(1, ch // q)),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    fade = max(2, round(0.035 * ch / q))
    valid = cv2.erode(valid, np.ones((fade, fade), np.uint8))
    valid = cv2.GaussianBlur(valid, (0, 0), fade / 2.0)
    full = cv2.resize(valid, size, interpolation=cv2.INTER_LINEAR)
    return out, full.astype(np.float32) * (1.0 / 255.0)


def place_cells(cells: list[np.ndarray], spec: FormatSpec, paper: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Lay headshot cells out on the format's page, with a thin grey cut guide around each."""
    if spec.page is None:
        return cells[0]
    pw, ph = spec.page
    page = np.empty((ph, pw, 3), np.uint8)
    page[:] = paper
    cw, ch = spec.cell
    for (x, y), cell in zip(spec.cell_origins(), cells, strict=True):
        page[y : y + ch, x : x + cw] = cell
        cv2.rectangle(page, (x - 1, y - 1), (x + cw, y + ch), (200, 200, 200), 1)
    return page
