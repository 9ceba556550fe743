"""Person matting: the selfie segmenter's coarse mask narrowed to the guest and refined by a guided filter."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from models.vision import Face, downscale

TEXTURE_VAR = 0.004  # local variance (of 0..1 intensity) at which a soft edge is half believed
# The filter's coefficient grid is about this many cells on the long side (1/8 of a 1500 px cell;
# a small photo gets a finer grid, else its edges come from a 40-cell grid).
COEFF_CELLS = 190.0
CORE = 0.8  # person confidence of the guest's confident body (a fringe around it is doubtful)
FRINGE_REACH = 0.2  # face heights a doubtful edge may reach from the confident body


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def guided_filter(
    guide_bgr: np.ndarray,
    src: np.ndarray,
    radius: int,
    eps: float,
    subsample: int = 4,
    pyramid: tuple[np.ndarray, np.ndarray] | None = None,
    full_size: bool = True,
) -> np.ndarray:
    """Fast colour guided filter (He et al. 2010/2015): edge-aware upsampling of src along guide's edges.

    Args:
        guide_bgr: the full-resolution image, BGR uint8.
        src: the signal to refine, float32 0..1, at any resolution (resampled to the coefficient grid).
        radius: window radius at full resolution, px.
        eps: regularisation (larger: smoother), in (0..1 intensity)².
        subsample: the coefficients are computed at 1/subsample resolution.
        pyramid: the guide at 1/2 and 1/subsample resolution, if the caller already has them.
        full_size: return the result at the guide's size (else at half of it, where it is computed).
    """
    h, w = guide_bgr.shape[:2]
    sw, sh = max(1, w // subsample), max(1, h // subsample)
    if pyramid is not None and pyramid[1].shape[:2] == (sh, sw):
        guide_small = pyramid[1].astype(np.float32) * (1.0 / 255.0)
    else:
        guide_small = downscale(guide_bgr, (sw, sh)).astype(np.float32) * (1.0 / 255.0)
    p = downscale(src, (sw, sh)) if src.shape[1] > sw else cv2.resize(src, (sw, sh), interpolation=cv2.INTER_LINEAR)
    r = max(1, radius // subsample)
    mean_i = _box(guide_small, r)
    mean_p = _box(p, r)
    corr_ip = _box(guide_small * p[..., None], r)
    cov_ip = corr_ip - mean_i * mean_p[..., None]
    # 3×3 covariance of the guide per pixel, solved in closed form (symmetric matrix inverse).
    gi = [guide_small[..., k] for k in range(3)]
    mi = [mean_i[..., k] for k in range(3)]
    var = {}
    for a in range(3):
        for b in range(a, 3):
            var[a, b] = _box(gi[a] * gi[b], r) - mi[a] * mi[b] + (eps if a == b else 0.0)
    s00, s01, s02, s11, s12, s22 = var[0, 0], var[0, 1], var[0, 2], var[1, 1], var[1, 2], var[2, 2]
    inv00 = s11 * s22 - s12 * s12
    inv01 = s02 * s12 - s01 * s22
    inv02 = s01 * s12 - s02 * s11
    inv11 = s00 * s22 - s02 * s02
    inv12 = s01 * s02 - s00 * s12
    inv22 = s00 * s11 - s01 * s01
    det = s00 * inv00 + s01 * inv01 + s02 * inv02
    c0, c1, c2 = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a0 = (inv00 * c0 + inv01 * c1 + inv02 * c2) / det
    a1 = (inv01 * c0 + inv11 * c1 + inv12 * c2) / det
    a2 = (inv02 * c0 + inv12 * c1 + inv22 * c2) / det
    b = mean_p - a0 * mi[0] - a1 * mi[1] - a2 * mi[2]
    # q = a·I + b is applied at half the guide's resolution (a strand of hair is still a pixel wide
    # there) and the result upsampled: a quarter of the memory traffic of a full-size pass.
    aw, ah = max(1, w // 2), max(1, h // 2)
    if pyramid is not None and pyramid[0].shape[:2] == (ah, aw):
        guide_half = pyramid[0]
    else:
        guide_half = downscale(guide_bgr, (aw, ah))
    planes = [cv2.resize(_box(c, r) * scale, (aw, ah), interpolation=cv2.INTER_LINEAR)
              for c, scale in ((a0, 1 / 255.0), (a1, 1 / 255.0), (a2, 1 / 255.0), (b, 1.0))]
    out = planes[3]
    for k, channel in enumerate(cv2.split(guide_half)):
        out = cv2.add(out, cv2.multiply(planes[k], channel.astype(np.float32)))
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR) if full_size else out


def _box_cells(face: Face, sx: float, sy: float, shape: tuple[int, int], shrink: float) -> tuple[slice, slice]:
    """The face box scaled to a grid and shrunk about its centre by `shrink` (0..1) of its size."""
    h, w = shape
    cx, cy = face.center
    hw, hh = face.w * (1 - shrink) / 2, face.h * (1 - shrink) / 2
    x0, x1 = int(np.clip((cx - hw) * sx, 0, w - 1)), int(np.clip((cx + hw) * sx, 0, w - 1)) + 1
    y0, y1 = int(np.clip((cy - hh) * sy, 0, h - 1)), int(np.clip((cy + hh) * sy, 0, h - 1)) + 1
    return slice(y0, y1), slice(x0, x1)


def guest_region(
    coarse: np.ndarray, face: Face, others: Sequence[Face] = (), image_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Where the guest is, on the coarse mask's grid (uint8 0/1): the person region attached to their face.

    Person pixels are shared out between the detected faces by flooding outwards from each face box
    through the segmenter's confidence (a watershed: two people who touch are split where the
    confidence dips between them, else half-way), then only what is connected to the guest's face is
    kept: body below, hair and headwear above. Other people and disconnected patches (a bright
    window, a tag) go, and so does a doubtful patch reaching further than FRINGE_REACH face heights
    from the guest's confident body (a chandelier beside the neck).

    Args:
        coarse: person confidence, float32 0..1, at any resolution.
        face: the guest's face in image pixels.
        others: the other detected faces in image pixels.
        image_size: (width, height) of the image the faces belong to, px; default the coarse grid's.
    """
    h, w = coarse.shape
    iw, ih = image_size or (w, h)
    sx, sy = w / iw, h / ih
    person = coarse > 0.5
    rivals = [f for f in others
              if abs(f.center[0] - face.center[0]) >= 0.5 * (f.w + face.w)
              or abs(f.center[1] - face.center[1]) >= 0.5 * (f.h + face.h)]  # not the guest's own face again
    mine: np.ndarray = np.ones((h, w), np.uint8)
    if rivals:
        markers = np.zeros((h, w), np.int32)
        markers[coarse < 0.15] = 1
        for label, f in enumerate(rivals, start=3):
            markers[_box_cells(f, sx, sy, (h, w), 0.4)] = label
        markers[_box_cells(face, sx, sy, (h, w), 0.4)] = 2
        confidence = np.dstack([np.clip((1.0 - coarse) * 255.0, 0, 255).astype(np.uint8)] * 3)
        labels = cv2.watershed(np.ascontiguousarray(confidence), markers)
        # The backdrop's own flood only steers the seams between people: what it claims is still the
        # guest's to keep when it is connected to them.
        mine = 1 - cv2.dilate((labels >= 3).astype(np.uint8), np.ones((3, 3), np.uint8))
    # Keep the confident person region connected to the face box, then the doubtful fringe that
    # touches it (wisps of hair are less certain than the head they grow from).
    strong = (person & (mine > 0)).astype(np.uint8)
    weak = ((coarse > 0.15) & (mine > 0)).astype(np.uint8)
    rows, cols = _box_cells(face, sx, sy, (h, w), 0.0)
    keep: np.ndarray = np.zeros((h, w), np.uint8)
    for mask in (strong, weak):
        _n, comp = cv2.connectedComponents(np.maximum(mask, keep), connectivity=8)
        seeds = np.unique(comp[rows, cols][(mask[rows, cols] > 0) | (keep[rows, cols] > 0)])
        seeds = seeds[seeds > 0]
        if seeds.size:
            keep = np.isin(comp, seeds).astype(np.uint8)
    if not keep.any():  # the segmenter missed the face entirely: trust its whole share, not nothing
        return mine.astype(np.uint8)
    # A doubtful edge is a fringe round a confident body: what stays doubtful far from any confident
    # part (a chandelier beside the neck, a lamp at the shoulder) is not the guest's (bench/matting.py:
    # SAD −0.2 %, no composite worse; it only changes photos with busy rooms behind the guest).
    core = ((coarse > CORE) & (keep > 0)).astype(np.uint8)
    if core.any():
        reach = FRINGE_REACH * face.h * sy
        keep = keep * (cv2.distanceTransform(1 - core, cv2.DIST_L2, 3) <= reach).astype(np.uint8)
    return keep


HEAD_REACH = 1.2  # the head crop reaches this many face heights left, right and below the face centre


def head_box(face: Face, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) px of a crop around the guest's head: hair, curls and a tall hat's crown included.

    The segmenter sees the whole photo at 256 px, where hair and a fur hat's crown are a few cells
    wide and often dropped; a second look at this crop (2.4 face heights across) sees the head about
    1.5× larger in a portrait cell, more in a wider photo (bench/matting.py: SAD −7 %, MSE −9 %,
    gradient error −10 % on keyed composites).

    Args:
        face: the guest's face, px.
        image_size: (width, height) of the image, px.
    """
    w, h = image_size
    cx, cy = face.center
    reach = HEAD_REACH * face.h
    x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach))
    y0, y1 = max(0, int(cy - 1.2 * reach)), min(h, int(cy + 0.8 * reach))
    return x0, y0, x1, y1


def merge_head(coarse: np.ndarray, head: np.ndarray, box: tuple[int, int, int, int],
               image_size: tuple[int, int]) -> np.ndarray:
    """The coarse mask with the head crop's own mask blended in (feathered where the crop is cut).

    Args:
        coarse: person confidence over the whole image, float32 0..1, any resolution.
        head: person confidence over the crop `box`, float32 0..1, any resolution.
        box: the crop, image px (see head_box).
        image_size: (width, height) of the image, px.
    """
    h, w = coarse.shape
    iw, ih = image_size
    x0, y0 = round(box[0] * w / iw), round(box[1] * h / ih)
    x1, y1 = round(box[2] * w / iw), round(box[3] * h / ih)
    bw, bh = x1 - x0, y1 - y0
    if bw < 4 or bh < 4:
        return coarse
    patch = cv2.resize(head, (bw, bh), interpolation=cv2.INTER_AREA if head.shape[1] > bw else cv2.INTER_LINEAR)
    # Feather only the crop's sides that are inside the image: there the crop's view of the person is cut.
    far = float(bw + bh)
    ramp = max(2.0, 0.1 * bw)
    ys, xs = np.arange(bh, dtype=np.float32), np.arange(bw, dtype=np.float32)
    dy = np.minimum(ys + (far if y0 == 0 else 0.0), bh - 1 - ys + (far if y1 == h else 0.0))
    dx = np.minimum(xs + (far if x0 == 0 else 0.0), bw - 1 - xs + (far if x1 == w else 0.0))
    weight = np.clip(np.minimum(dy[:, None], dx[None, :]) / ramp, 0.0, 1.0)
    out = coarse.copy()
    out[y0:y1, x0:x1] = weight * patch + (1.0 - weight) * coarse[y0:y1, x0:x1]
    return out


def refine_matte(
    bgr: np.ndarray,
    coarse: np.ndarray,
    valid: np.ndarray | None = None,
    pyramid: tuple[np.ndarray, np.ndarray] | None = None,
    face: Face | None = None,
    others: Sequence[Face] = (),
) -> np.ndarray:
    """Full-resolution alpha (float32 0..1) from a coarse person mask, following hair and edges.

    Args:
        bgr: the image the mask belongs to, BGR uint8.
        coarse: person confidence at any resolution, float32 0..1.
        valid: where the image holds real photo pixels (0 outside the photo), float32 0..1; None: everywhere.
        pyramid: bgr at 1/2 and 1/4 resolution, if the caller already has them.
        face: the guest's face in bgr's pixels: only the person attached to it is kept (None: everyone).
        others: the other faces detected in bgr, px: their people are removed.
    """
    h, w = bgr.shape[:2]
    radius = max(4, round(max(h, w) / 90))
    quarter = pyramid[1] if pyramid is not None else downscale(bgr, (max(1, w // 4), max(1, h // 4)))
    half = pyramid[0] if pyramid is not None else downscale(bgr, (max(1, w // 2), max(1, h // 2)))
    gate = None
    if face is not None:
        # Only what is not the guest is taken away (other people, disconnected patches), so the
        # guest's own doubtful edges are left to the filter below; the cut is a cell wide and soft.
        region = guest_region(coarse, face, others, (w, h))
        removed = cv2.dilate(((coarse > 0.15) & (region == 0)).astype(np.uint8), np.ones((3, 3), np.uint8))
        removed = removed & (1 - region)
        if removed.any():
            gate = 1.0 - removed.astype(np.float32)
            coarse = coarse * gate
    # The filter's coefficients are smooth (box-averaged), so they are solved on a coarse grid (1/8
    # of a cell): alphas differ from a 1/4 grid by under 2 % at the 99th percentile, in a third of
    # the time. They are applied with the half-size guide, which is where strands of hair come from.
    # Everything after the filter is pointwise, so it runs at half size before the one upsample.
    sub = int(np.clip(2 ** round(np.log2(max(h, w) / COEFF_CELLS)), 1, 8))
    # A small photo's grid is finer than a quarter: made from the level at or above it, not blown up
    # from the quarter (bench/matting.py: MSE -2 % on its 335×410 composites; a cell is unchanged).
    level = bgr if sub == 1 else half if sub == 2 else quarter
    grid = downscale(level, (max(1, w // sub), max(1, h // sub)))
    alpha = guided_filter(bgr, coarse, radius=radius, eps=2e-3, subsample=sub, pyramid=(half, grid),
                          full_size=False)
    ah, aw = alpha.shape[:2]
    soft = np.clip((alpha - 0.12) * (1.0 / 0.76), 0.0, 1.0)
    # A soft edge needs evidence: where the photo is locally flat (dark hair against a dark backdrop,
    # say) a half-transparent alpha is only the segmenter's doubt and shows as a ghost, so it is
    # decided towards 0 or 1; where the photo has texture (strands of hair) the soft alpha stays.
    gray = cv2.cvtColor(quarter, cv2.COLOR_BGR2GRAY).astype(np.float32) * (1.0 / 255.0)
    r = max(1, radius // 4)
    local_var = np.maximum(_box(gray * gray, r) - _box(gray, r) ** 2, 0.0)
    evidence = cv2.resize(local_var / (local_var + TEXTURE_VAR), (aw, ah), interpolation=cv2.INTER_LINEAR)
    t = np.clip((alpha - 0.35) * (1.0 / 0.3), 0.0, 1.0)
    hard = t * t * (3.0 - 2.0 * t)
    alpha = evidence * soft + (1.0 - evidence) * hard
    if gate is not None:
        alpha = cv2.multiply(alpha, cv2.resize(gate, (aw, ah), interpolation=cv2.INTER_LINEAR))
    alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
    if valid is not None:
        alpha = cv2.multiply(alpha, valid)
    return alpha
