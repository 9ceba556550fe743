"""Backdrops and the final composite of the matted guest over them."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from models.vision import downscale

STYLES = ("studio-grey", "white", "brand", "blurred", "custom")


def hex_to_bgr(value: str) -> tuple[int, int, int]:
    """'#RRGGBB' to a BGR tuple."""
    v = value.lstrip("#")
    r, g, b = int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16)
    return b, g, r


@lru_cache(maxsize=16)
def _radial_cached(size: tuple[int, int], inner: tuple[float, ...], outer: tuple[float, ...]) -> np.ndarray:
    img = _radial(size, np.array(inner), np.array(outer))
    img.setflags(write=False)
    return img


def _radial(size: tuple[int, int], inner: np.ndarray, outer: np.ndarray, centre_y: float = 0.38) -> np.ndarray:
    w, h = size
    # Computed at 1/8 size and upsampled: a gradient this smooth loses nothing, and it is 60× cheaper.
    sw, sh = max(8, w // 8), max(8, h // 8)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    d = np.sqrt(((xx + 0.5) / sw - 0.5) ** 2 * (w / max(w, h)) ** 2 * 4 +
                ((yy + 0.5) / sh - centre_y) ** 2 * (h / max(w, h)) ** 2 * 4)
    t = np.clip(d / 1.15, 0.0, 1.0) ** 1.6
    small = inner[None, None, :] * (1 - t[..., None]) + outer[None, None, :] * t[..., None]
    big = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    # A whisper of noise dithers away the banding that JPEG would otherwise show in a smooth gradient.
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 1.2, (h, w, 1)).astype(np.float32)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


def _normalised_blur(img: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Blur img using only pixels where weight is high (normalised convolution), at 1/4 resolution."""
    h, w = img.shape[:2]
    sw, sh = max(4, w // 4), max(4, h // 4)
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    wsmall = cv2.resize(weight, (sw, sh), interpolation=cv2.INTER_AREA)[..., None]
    s = max(0.5, sigma / 4)
    num = cv2.GaussianBlur(small * wsmall, (0, 0), s)
    den = cv2.GaussianBlur(wsmall[..., 0], (0, 0), s)[..., None]
    out = num / np.maximum(den, 1e-3)
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)


def render_background(
    style: str,
    size: tuple[int, int],
    *,
    brand_bgr: tuple[int, int, int] = (121, 78, 31),
    custom: np.ndarray | None = None,
    photo: np.ndarray | None = None,
    alpha: np.ndarray | None = None,
) -> np.ndarray:
    """The backdrop for `style` at size (width, height), BGR uint8."""
    w, h = size
    if style == "studio-grey":
        return _radial_cached(size, (172.0, 170.0, 168.0), (74.0, 72.0, 70.0))
    if style == "white":
        return _radial_cached(size, (252.0, 252.0, 252.0), (236.0, 236.0, 236.0))
    if style == "brand":
        base = np.array(brand_bgr, np.float64)
        inner = tuple(float(v) for v in np.clip(base * 1.25 + 18, 0, 255))
        return _radial_cached(size, inner, tuple(float(v) for v in base * 0.62))
    if style == "blurred":
        if photo is None or alpha is None:
            raise ValueError("the blurred style needs the photo and its matte")
        bg = _normalised_blur(photo, 1.0 - alpha, sigma=max(w, h) / 28.0)
        return np.clip(bg * 0.88, 0, 255).astype(np.uint8)
    if style == "custom":
        if custom is None:
            raise ValueError("the custom style needs a background image")
        ch, cw = custom.shape[:2]
        scale = max(w / cw, h / ch)
        size_fit = (max(w, round(cw * scale)), max(h, round(ch * scale)))
        fitted = cv2.resize(custom, size_fit, interpolation=cv2.INTER_AREA)
        oy, ox = (fitted.shape[0] - h) // 2, (fitted.shape[1] - w) // 2
        return cv2.GaussianBlur(fitted[oy : oy + h, ox : ox + w], (0, 0), max(w, h) / 400.0)
    raise ValueError(f"unknown style '{style}' (choose one of: {', '.join(STYLES)})")


def _spread(img: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """The image averaged over where weight is high and spread outwards (normalised convolution)."""
    num = cv2.GaussianBlur(img * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    return num / np.maximum(den, 1e-3)


_LUMA = np.array([0.114, 0.587, 0.299], np.float32)  # Rec.601 weights for B, G, R


def _grid(h: int, w: int) -> int:
    """estimate_foreground's neighbourhood grid: one cell per q×q pixels."""
    return 8 if max(h, w) >= 1000 else 4


def _cells(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The image averaged over the grid's cells of size (width, height): whole q×q blocks from the top left.

    The pixels past the last whole cell are left out (they are the despill's backdrop too), which
    keeps each cell on its own block and lets OpenCV's integer area path run (6× faster on 9 MP).
    """
    sw, sh = size
    h, w = img.shape[:2]
    fx, fy = w // sw, h // sh
    if fx >= 1 and fy >= 1 and fx == fy:
        return cv2.resize(img[: sh * fy, : sw * fx], size, interpolation=cv2.INTER_AREA)
    return downscale(img, size)


def _chroma(bgr: np.ndarray) -> np.ndarray:
    return bgr - (bgr @ _LUMA)[..., None]


def estimate_foreground(photo: np.ndarray, alpha: np.ndarray, small: np.ndarray | None = None) -> np.ndarray:
    """The guest's own colours (BGR uint8): soft edges un-mixed from the old background, and its spill removed.

    In the soft edge F = (I − (1 − α)·B_old) / α, with B_old the photo's background next to the pixel;
    where α is small that division amplifies noise, so F leans towards the guest's own colour next to
    the pixel instead. A coloured backdrop also lights the guest's rim (blue on hair and ears) where
    the matte is already opaque: near the edge, the part of a pixel's chroma that points from the guest's
    colour further in towards the backdrop's is taken out, luminance kept (despill). Neighbourhood
    colours are normalised blurs on a coarse grid.

    Args:
        photo: the photo, BGR uint8.
        alpha: its matte, float32 0..1.
        small: the photo at quarter size, if the caller has it (the grid is made from it).
    """
    h, w = alpha.shape
    # Neighbourhood colours are smooth (blurs of 12 px and more at a 1500 px cell): an eighth-size
    # grid holds them at a quarter of a quarter grid's cost; a small picture keeps a quarter grid.
    q = _grid(h, w)
    sw, sh = max(4, w // q), max(4, h // q)
    quarter = small if small is not None and small.shape[:2] == (max(1, h // 4), max(1, w // 4)) else photo
    small_f = _cells(quarter, (sw, sh)).astype(np.float32)
    a_small = _cells(alpha, (sw, sh))
    old_small = _spread(small_f, (a_small < 0.35).astype(np.float32), max(0.5, max(h, w) / 60.0 / q))
    fg = photo.copy()
    flat_alpha = alpha.reshape(-1)
    soft = np.flatnonzero((flat_alpha > 0.02) & (flat_alpha < 0.97))
    if soft.size:
        own_small = _spread(small_f, (a_small > 0.9).astype(np.float32), max(0.5, max(h, w) / 120.0 / q))
        ys, xs = np.divmod(soft, w)
        ys, xs = np.minimum(ys // q, sh - 1), np.minimum(xs // q, sw - 1)
        a = flat_alpha[soft][:, None]
        src = photo.reshape(-1, 3)[soft].astype(np.float32)
        un_mixed = np.clip((src - (1.0 - a) * old_small[ys, xs]) / np.maximum(a, 0.05), 0.0, 255.0)
        t = np.clip((a - 0.15) * (1.0 / 0.45), 0.0, 1.0)
        fg.reshape(-1, 3)[soft] = (t * un_mixed + (1.0 - t) * own_small[ys, xs] + 0.5).astype(np.uint8)
    _despill(fg, alpha, a_small, small_f, old_small)
    return fg


def _despill(fg: np.ndarray, alpha: np.ndarray, a_small: np.ndarray, small_f: np.ndarray,
             old_small: np.ndarray) -> None:
    """Take a coloured backdrop's light off the guest's rim, in place (see estimate_foreground)."""
    h, w = alpha.shape
    sh, sw = a_small.shape
    q = _grid(h, w)
    # How much: none for a near-grey backdrop (under 15 levels of chroma its light tints nothing
    # visibly, and the step then costs nothing), full from 35 levels up (a blue studio backdrop is
    # about 95), fading over a rim of 1.5 % of the picture from the edge inwards.
    backdrop_chroma = _chroma(old_small)
    strength = np.sqrt(np.einsum("ijk,ijk->ij", backdrop_chroma, backdrop_chroma))
    coloured = np.clip((strength - 15.0) * (1.0 / 20.0), 0.0, 1.0)
    if float(coloured.max()) <= 0.0:
        return
    rim = max(1.0, max(h, w) / 70.0 / q)
    near = np.clip(cv2.GaussianBlur((a_small < 0.5).astype(np.float32), (0, 0), rim) * 4.0, 0.0, 1.0)
    amount = coloured * near
    zone_small = cv2.dilate((amount > 0.05).astype(np.uint8), np.ones((3, 3), np.uint8))
    cells = np.flatnonzero(zone_small.reshape(-1))
    if not cells.size:
        return
    # Cells whose mean alpha is under 0.02 / q² hold no pixel over 0.02: nothing there to despill.
    cells = cells[a_small.reshape(-1)[cells] > 0.02 / (q * q)]
    if not cells.size:
        return
    # The guest's colour away from the rim (what the rim would be without the backdrop's light) is
    # smooth: spread on a grid four times coarser still.
    tiny_size = (max(2, sw // 4), max(2, sh // 4))
    deep = cv2.resize(((a_small > 0.99) & (near < 0.02)).astype(np.float32), tiny_size, interpolation=cv2.INTER_AREA)
    inner = _spread(cv2.resize(small_f, tiny_size, interpolation=cv2.INTER_AREA), deep, 0.75 * rim)
    inner_chroma = cv2.resize(_chroma(inner), (sw, sh), interpolation=cv2.INTER_LINEAR)
    # Per cell of the zone: the backdrop's chroma direction d, Σd and inner·d (chroma(C)·d = C·d −
    # luma(C)·Σd, so per pixel only C is needed), and the amount.
    direction = backdrop_chroma.reshape(-1, 3)[cells] / np.maximum(strength.reshape(-1)[cells], 1e-3)[:, None]
    d_sum = direction.sum(axis=1)
    inner_d = np.einsum("ij,ij->i", inner_chroma.reshape(-1, 3)[cells], direction)
    how_much = amount.reshape(-1)[cells]
    # The zone's pixels as whole q×q blocks (views into fg and alpha; the few pixels past the last
    # whole cell are backdrop), so the cell's values broadcast instead of being repeated per pixel.
    cy, cx = np.divmod(cells, sw)
    fg_blocks = _blocks(fg, q, sh, sw)
    colour = fg_blocks[cy, cx].astype(np.float32)  # cells × q × q × 3
    a = _blocks(alpha, q, sh, sw)[cy, cx]
    along = (np.einsum("nijk,nk->nij", colour, direction) - (colour @ _LUMA) * d_sum[:, None, None]
             - inner_d[:, None, None])
    # Pixels at alpha 0.02 and under are backdrop (their colour is never seen): left as they are.
    pull = np.maximum(along, 0.0) * how_much[:, None, None] * (a > 0.02)
    colour -= pull[..., None] * direction[:, None, None, :]
    fg_blocks[cy, cx] = np.clip(colour + 0.5, 0.0, 255.0).astype(np.uint8)


def _blocks(img: np.ndarray, q: int, rows: int, cols: int) -> np.ndarray:
    """A writable view of img's top-left rows×cols grid of q×q blocks: shape (rows, cols, q, q, ...)."""
    s0, s1 = img.strides[:2]
    return np.lib.stride_tricks.as_strided(
        img, (rows, cols, q, q, *img.shape[2:]), (q * s0, q * s1, s0, s1, *img.strides[2:]))


def composite(
    photo: np.ndarray, alpha: np.ndarray, backdrop: np.ndarray, small: np.ndarray | None = None
) -> np.ndarray:
    """Guest over backdrop, with the guest's soft edges un-mixed from the old background (no halo in hair).

    `small` is the photo at quarter size, if the caller has it.
    """
    fg = estimate_foreground(photo, alpha, small)
    return cv2.blendLinear(fg, backdrop, alpha, 1.0 - alpha)
