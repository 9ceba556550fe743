"""Headshot composition: one similarity transform (roll, scale, placement) from photo to cell."""

from __future__ import annotations

import math

import cv2
import numpy as np

from kiosk.pipeline.formats import FormatSpec
from models.vision import Face

OVERLAP = 2.0  # px the photo is made to reach past the cell's edge, so a filled edge is never a sliver short
EDGE_MARGIN = 1.5  # px a fade keeps clear of the photo's edge: bilinear sampling there mixes in replicated pixels
# Where the photo ends inside the cell, the body ends in a studio fade this long (fraction of the cell's
# height): long enough to read as a vignette, not a cut. Where the guest's head is closer to the edge than
# that, the fade is shortened to keep clear of it, but never below SHORT_FADE.
FADE = 0.15
SHORT_FADE = 0.06
HEAD_CLEARANCE = (0.25, 0.1)  # the head the fade keeps clear of: the face box grown by this × its width, height


def headshot_transform(face: Face, spec: FormatSpec, photo_size: tuple[int, int] | None = None) -> np.ndarray:
    """2×3 affine matrix mapping photo pixels to cell pixels by the format's rule.

    Where the photo would end inside the cell, the rule's tolerance is used first: the eye line moves
    down (up to spec.eye_line_tolerance), which lowers the photo's bottom edge, then the head is enlarged
    about the eye point (up to spec.max_zoom) so the guest's shoulders fill the frame. What is still
    missing is ended by a studio fade (see warp_to_cell).
    """
    matrix = _rule_transform(face, spec, 1.0, 0.0)
    if photo_size is None:
        return matrix
    ch = spec.cell[1]
    shift = min(_bottom_gap(matrix, spec, photo_size), spec.eye_line_tolerance * ch)
    if shift > 0.0:
        matrix = _rule_transform(face, spec, 1.0, shift)
    zoom = _fill_zoom(matrix, spec, photo_size, shift)
    return _rule_transform(face, spec, zoom, shift) if zoom > 1.0 else matrix


def _corners(matrix: np.ndarray, photo_size: tuple[int, int]) -> np.ndarray:
    pw, ph = photo_size
    return np.array([[0, 0, 1], [pw, 0, 1], [0, ph, 1], [pw, ph, 1]], np.float64) @ matrix.T


def _bottom_edge(matrix: np.ndarray, photo_size: tuple[int, int], cell_width: int) -> float:
    """The highest point (cell px) of the photo's bottom edge across the cell.

    A tilted photo's edge leaves its gap on one side, which the fill and the fade must both see.
    """
    _tl, _tr, bl, br = _corners(matrix, photo_size)[:, :2]
    return min(_edge_at(bl, br, 1, 0.0), _edge_at(bl, br, 1, float(cell_width)))


def _bottom_gap(matrix: np.ndarray, spec: FormatSpec, photo_size: tuple[int, int]) -> float:
    return max(0.0, spec.cell[1] + OVERLAP - _bottom_edge(matrix, photo_size, spec.cell[0]))


def _fill_zoom(matrix: np.ndarray, spec: FormatSpec, photo_size: tuple[int, int], shift: float) -> float:
    cw, ch = spec.cell
    corners = _corners(matrix, photo_size)
    tx, ty = cw / 2.0, spec.eye_line * ch + shift
    need = 1.0
    left, right = corners[:, 0].min(), corners[:, 0].max()
    bottom = _bottom_edge(matrix, photo_size, cw)
    if left > -OVERLAP and tx - left > 1:
        need = max(need, (tx + OVERLAP) / (tx - left))
    if right < cw + OVERLAP and right - tx > 1:
        need = max(need, (cw + OVERLAP - tx) / (right - tx))
    if bottom < ch + OVERLAP and bottom - ty > 1:
        need = max(need, (ch + OVERLAP - ty) / (bottom - ty))
    return min(need, spec.max_zoom)


def _rule_transform(face: Face, spec: FormatSpec, zoom: float, shift: float) -> np.ndarray:
    cw, ch = spec.cell
    scale = zoom * spec.face_height * ch / max(face.h, 1.0)
    theta = math.radians(face.roll_deg)
    cos_t, sin_t = math.cos(theta) * scale, math.sin(theta) * scale
    ex, ey = face.eye_center
    tx, ty = cw / 2.0, spec.eye_line * ch + shift
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


def head_clearance(face: Face) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the head and hair around a face box (same pixels): what a studio fade keeps clear of."""
    gx, gy = HEAD_CLEARANCE[0] * face.w, HEAD_CLEARANCE[1] * face.h
    return face.x - gx, face.y - gy, face.x + face.w + gx, face.y + face.h + gy


def warp_to_cell(
    bgr: np.ndarray, matrix: np.ndarray, size: tuple[int, int], head: tuple[float, float, float, float] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Warp the photo into the cell; return (image with replicated borders, float32 validity 0..1).

    The validity is None when the photo covers the whole cell. Where the photo's bottom or sides end inside
    the cell, the validity is the studio fade (see studio_fade, side_fade), kept clear of `head` (cell px,
    see head_clearance) where it can be.

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
    # Top and sides: a soft fade just inside the photo's edge (the matte hides what is past it there),
    # treating the photo as running on downwards. The body's sides and bottom then get the deliberate
    # studio fade (level at the bottom, upright at the sides). Quarter resolution is plenty.
    q = 4
    sh, sw = max(1, src.shape[0] // q), max(1, src.shape[1] // q)
    mq = np.empty_like(m)
    mq[:, 0] = m[:, 0] * (src.shape[1] / sw) / q
    mq[:, 1] = m[:, 1] * (src.shape[0] / sh) / q
    mq[:, 2] = m[:, 2] / q
    sides = cv2.warpAffine(np.full((4 * sh, sw), 255, np.uint8), mq, (max(1, cw // q), max(1, ch // q)),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    fade = max(2, round(0.035 * ch / q))
    sides = cv2.erode(sides, np.ones((fade, fade), np.uint8))
    sides = cv2.GaussianBlur(sides, (0, 0), fade / 2.0)
    sides_f = sides.astype(np.float32) * (1.0 / 255.0)
    rows_fade, cols_fade = studio_fade(matrix, (pw, ph), size, head), side_fade(matrix, (pw, ph), size, head)
    for profile_full, axis in ((rows_fade, 0), (cols_fade, 1)):
        if profile_full is None:
            continue
        # Folded in on the quarter grid, each quarter cell taking the lowest of its own and its two
        # neighbours' full pixels, so the upsampled (interpolated) fade still reaches 0 before the edge.
        n = sides_f.shape[axis]
        profile = np.pad(profile_full, (q, max(0, (n + 1) * q - profile_full.size)), mode="edge")
        blocks = profile[: (n + 2) * q].reshape(n + 2, q).min(axis=1)
        folded = np.minimum(np.minimum(blocks[:-2], blocks[1:-1]), blocks[2:])
        sides_f *= folded[:, None] if axis == 0 else folded[None, :]
    if float(sides_f.min()) >= 1.0:
        return out, None
    return out, cv2.resize(sides_f, size, interpolation=cv2.INTER_LINEAR)


def _edge_at(p: np.ndarray, q: np.ndarray, axis: int, at: float) -> float:
    """Where the line through p and q crosses `at` on the other axis (axis 1: y for a given x)."""
    other = 1 - axis
    d = q[other] - p[other]
    if abs(d) < 1e-9:
        return float(p[axis])
    return float(p[axis] + (at - p[other]) * (q[axis] - p[axis]) / d)


def studio_fade(
    matrix: np.ndarray, photo_size: tuple[int, int], size: tuple[int, int],
    head: tuple[float, float, float, float] | None = None,
) -> np.ndarray | None:
    """The studio fade's profile down the cell (float32 0..1 per row, 1 above), None where not needed.

    Where the photo's bottom edge is inside the cell, the body ends in a straight, even fade: level with
    the cell (a studio vignette, not a slanted cut, so one value per row), reaching 0 before the highest
    point of that edge, so the replicated last rows never show (no smear). It is FADE × cell height long,
    shortened (to SHORT_FADE at least) so that it starts below `head`.

    Args:
        matrix: photo px -> cell px.
        photo_size: (width, height) of the photo, px.
        size: (width, height) of the cell, px.
        head: (x0, y0, x1, y1) cell px the fade keeps clear of (head_clearance), or None.
    """
    cw, ch = size
    bottom = _bottom_edge(matrix, photo_size, cw)
    if bottom >= ch - 0.5:
        return None
    end = bottom - EDGE_MARGIN
    ys = np.arange(ch, dtype=np.float32) + 0.5
    return _ramp((end - ys) / _fade_length(end - head[3] if head else None, ch))


def side_fade(
    matrix: np.ndarray, photo_size: tuple[int, int], size: tuple[int, int],
    head: tuple[float, float, float, float] | None = None,
) -> np.ndarray | None:
    """The studio fade's profile across the cell (float32 0..1 per column), None where not needed.

    Where the photo's left or right edge is inside the cell all along the body (the rows below `head`, or
    all rows when no head is given), the body ends there as it does at the bottom: an upright, even fade
    reaching 0 before the innermost point of that edge, as long as the bottom's and likewise kept clear of
    `head`. A tilt's thin wedge (the edge leaves the cell along the body) and a gap beside the head keep
    the photo's own short soft edge (warp_to_cell): the matte hides the backdrop past it. Arguments as
    for studio_fade.
    """
    cw, ch = size
    tl, tr, bl, br = _corners(matrix, photo_size)[:, :2]
    top = float(np.clip(head[3], 0.0, ch)) if head else 0.0  # the body's rows: below the head
    lefts = (_edge_at(tl, bl, 0, top), _edge_at(tl, bl, 0, float(ch)))
    rights = (_edge_at(tr, br, 0, top), _edge_at(tr, br, 0, float(ch)))
    # Only a side missing all along the body is faded; a tilt's thin wedge keeps the photo's soft edge.
    fade_left, fade_right = min(lefts) > 0.5, max(rights) < cw - 0.5
    if not (fade_left or fade_right):
        return None
    xs = np.arange(cw, dtype=np.float32) + 0.5
    profile = np.ones(cw, np.float32)
    if fade_left:
        start = max(lefts) + EDGE_MARGIN
        profile *= _ramp((xs - start) / _fade_length(head[0] - start if head else None, ch))
    if fade_right:
        end = min(rights) - EDGE_MARGIN
        profile *= _ramp((end - xs) / _fade_length(end - head[2] if head else None, ch))
    return profile


def _fade_length(room: float | None, cell_height: int) -> float:
    """The fade's length, px: FADE of the cell's height, or the room left before the head (SHORT_FADE at least)."""
    longest = FADE * cell_height
    if room is not None:
        longest = min(longest, max(SHORT_FADE * cell_height, room))
    return max(4.0, longest)


def _ramp(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


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
