"""The generative headshot: studio result first, then img2img with the guest's own face pasted back.

Flow: studio pipeline (framing, matte, light, retouch, backdrop) → square headshot crop of the first cell
at the pack's resolution → img2img (a Generator: in-process or the supervised worker) → upscaled back
into the cell with feathered edges → the guest's face from the studio image (which is the original photo,
warped, lit and retouched) pasted back with a feathered mask from the face detection and the person
matte, colour-matched to the generated light and blended with a Laplacian pyramid → the cell placed into
every cell of the page. If anything in generation fails, or the face no longer matches (SSIM), the
studio result is delivered with the reason.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from kiosk.errors import KioskError
from kiosk.generation.base import GenerationCancelledError, Generator
from kiosk.pipeline.studio import StudioPipeline, StudioResult
from models.vision import Face

log = logging.getLogger(__name__)


@dataclass
class GenerativeResult:
    """The delivered image and how it was made; `fallback_reason` is set when it is the studio image."""

    image: np.ndarray  # BGR uint8 at the format's size
    studio: StudioResult
    source_type: str  # "ai-composite" or "edited" (studio fallback)
    fallback_reason: str | None = None
    seed: int | None = None
    style: str | None = None
    face_ssim: float | None = None
    notes: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def generated(self) -> bool:
        """True when the delivered image is the generative composite."""
        return self.fallback_reason is None

    def description(self) -> str:
        """One line for the JPEG's XMP description."""
        spec = self.studio.spec.name
        if self.generated:
            return (
                f"AI-generated backdrop and styling ({self.style}, seed {self.seed}) around the guest's own "
                f"photographed face; {spec} by Headshot Kiosk"
            )
        return f"Studio headshot ({spec}, {self.studio.style}) by Headshot Kiosk"


def square_crop_box(
    cell_size: tuple[int, int], face: Face, eye_fraction: float = 0.45
) -> tuple[int, int, int]:
    """(x0, y0, side) of the largest square in the cell around the face (face centre at eye_fraction)."""
    w, h = cell_size
    side = min(w, h)
    cx, cy = face.center
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    y0 = int(np.clip(round(cy - eye_fraction * side), 0, h - side))
    return x0, y0, side


def face_mask(shape: tuple[int, int], face: Face, matte: np.ndarray) -> np.ndarray:
    """Feathered float32 mask of the face: an ellipse from the detection, cut by the person matte."""
    h, w = shape
    # Built and feathered at 1/4 scale: the feather is wide and smooth, and 16× cheaper there.
    q = 4
    sh, sw = max(1, h // q), max(1, w // q)
    ellipse = np.zeros((sh, sw), np.float32)
    center = (round(face.center[0] / q), round((face.y + 0.46 * face.h) / q))
    axes = (max(1, round(0.62 * face.w / q)), max(1, round(0.74 * face.h / q)))
    cv2.ellipse(ellipse, center, axes, face.roll_deg, 0, 360, 1.0, -1, cv2.LINE_AA)
    if matte.shape == (h, w):
        person = cv2.resize(matte.astype(np.float32, copy=False), (sw, sh), interpolation=cv2.INTER_AREA)
        ellipse *= (person >= 0.5).astype(np.float32)
    sigma = max(0.5, 0.07 * face.w / q)
    small = cv2.GaussianBlur(ellipse, (0, 0), sigma)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def match_colour(
    src: np.ndarray, ref: np.ndarray, mask: np.ndarray, strength: float = 0.5, max_shift: float = 8.0
) -> np.ndarray:
    """Shift src's mean Lab colour under mask toward ref's, by strength, at most max_shift units per channel.

    Only the mean moves (no contrast change), so the face keeps its structure and identity.
    """
    # Statistics at 1/4 scale (means barely change); the shift itself is applied at full resolution.
    h, w = mask.shape
    small = (max(1, w // 4), max(1, h // 4))
    m = cv2.resize(mask, small, interpolation=cv2.INTER_AREA)[..., None].astype(np.float32)
    total = float(m.sum())
    if total < 1.0:
        return src
    src_lab = cv2.cvtColor(cv2.resize(src, small, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2LAB)
    ref_lab = cv2.cvtColor(cv2.resize(ref, small, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2LAB)
    m_src = (src_lab.astype(np.float32) * m).sum(axis=(0, 1)) / total
    m_ref = (ref_lab.astype(np.float32) * m).sum(axis=(0, 1)) / total
    shift = np.round(np.clip((m_ref - m_src) * strength, -max_shift, max_shift)).astype(np.int16)
    if not shift.any():
        return src
    lab = cv2.cvtColor(src, cv2.COLOR_BGR2LAB).astype(np.int16) + shift
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def laplacian_blend(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, levels: int = 5) -> np.ndarray:
    """Blend fg over bg (BGR uint8) with a float mask, band by band (seam-free multiresolution blend)."""
    h, w = mask.shape
    levels = max(1, min(levels, int(np.log2(max(1, min(h, w) // 8)))))
    g_mask: list[np.ndarray] = [cv2.merge([mask.astype(np.float32)] * 3)]
    g_fg: list[np.ndarray] = [fg.astype(np.float32)]
    g_bg: list[np.ndarray] = [bg.astype(np.float32)]
    for _ in range(levels):
        g_mask.append(cv2.pyrDown(g_mask[-1]))
        g_fg.append(cv2.pyrDown(g_fg[-1]))
        g_bg.append(cv2.pyrDown(g_bg[-1]))

    def mix(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> np.ndarray:
        return cv2.add(b, cv2.multiply(m, cv2.subtract(a, b)))  # b + m (a - b)

    out = mix(g_fg[-1], g_bg[-1], g_mask[-1])
    for i in range(levels - 1, -1, -1):
        size = (g_fg[i].shape[1], g_fg[i].shape[0])
        lap_fg = cv2.subtract(g_fg[i], cv2.pyrUp(g_fg[i + 1], dstsize=size))
        lap_bg = cv2.subtract(g_bg[i], cv2.pyrUp(g_bg[i + 1], dstsize=size))
        out = cv2.add(cv2.pyrUp(out, dstsize=size), mix(lap_fg, lap_bg, g_mask[i]))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity (Wang et al. 2004; Gaussian window σ 1.5) of two images, on luma."""
    ga = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64) if a.ndim == 3 else a.astype(np.float64)
    gb = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64) if b.ndim == 3 else b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(ga), blur(gb)
    var_a = blur(ga * ga) - mu_a**2
    var_b = blur(gb * gb) - mu_b**2
    cov = blur(ga * gb) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float((num / den).mean())


def face_box(face: Face, shape: tuple[int, int], inset: float = 0.0) -> tuple[slice, slice]:
    """Row and column slices of the face detection box shrunk by `inset` (fraction) per side, clipped."""
    h, w = shape
    dx, dy = inset * face.w, inset * face.h
    x0, y0 = max(0, int(face.x + dx)), max(0, int(face.y + dy))
    x1, y1 = min(w, int(face.x + face.w - dx)), min(h, int(face.y + face.h - dy))
    return slice(y0, y1), slice(x0, x1)


def _square_feather(cell_size: tuple[int, int], box: tuple[int, int, int], width: int) -> np.ndarray:
    """1 inside the square, ramping to 0 over `width` px at sides that are not on the cell border."""
    w, h = cell_size
    x0, y0, s = box
    mask = np.zeros((h, w), np.float32)
    ramp = np.ones(s, np.float32)
    if width > 0:
        edge = np.linspace(0, 1, width + 2, dtype=np.float32)[1:-1]
        ramp_lo, ramp_hi = ramp.copy(), ramp.copy()
        ramp_lo[:width] = edge
        ramp_hi[-width:] = edge[::-1]
    else:
        ramp_lo = ramp_hi = ramp
    rows = np.ones(s, np.float32)
    if y0 > 0:
        rows = rows * ramp_lo
    if y0 + s < h:
        rows = rows * ramp_hi
    cols = np.ones(s, np.float32)
    if x0 > 0:
        cols = cols * ramp_lo
    if x0 + s < w:
        cols = cols * ramp_hi
    mask[y0 : y0 + s, x0 : x0 + s] = rows[:, None] * cols[None, :]
    return mask


class GenerativePipeline:
    """Studio headshot, then the generative composite when a generator is available and succeeds."""

    def __init__(
        self,
        studio: StudioPipeline,
        generator: Generator | None,
        unavailable_reason: str | None = None,
        identity_min_ssim: float = 0.9,
    ) -> None:
        """Wire the studio pipeline to a generator (None: always the studio result, saying why)."""
        self.studio = studio
        self.generator = generator
        self.unavailable_reason = unavailable_reason or "no model pack is installed"
        self.identity_min_ssim = identity_min_ssim

    def headshot(
        self,
        bgr: np.ndarray,
        *,
        style: str,
        backdrop: str | None = None,
        fmt: str | None = None,
        seed: int | None = None,
        steps: int | None = None,
        strength: float | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> GenerativeResult:
        """Make the studio headshot, then try the generative one; never raises for a generation failure.

        Args:
            bgr: the photo, BGR uint8.
            style: the pack's style preset.
            backdrop: the studio backdrop style under it (default: config).
            fmt: output format (default: config).
            seed: noise seed (default: a random one, reported in the result).
            steps: schedule length (default: the style's).
            strength: img2img strength 0..1 (default: the style's).
            progress: progress(done, total) per denoising step.
            cancel: polled between steps; True delivers the studio result ("cancelled").
        """
        t0 = time.monotonic()
        studio = self.studio.headshot(bgr, style=backdrop, fmt=fmt)  # always ready first
        timings = {"studio": (time.monotonic() - t0) * 1000.0}
        if self.generator is None:
            return self._fallback(studio, self.unavailable_reason, timings)
        seed = secrets.randbelow(2**31) if seed is None else seed
        try:
            return self._generate(studio, style, seed, steps, strength, progress, cancel, timings)
        except GenerationCancelledError:
            return self._fallback(studio, "generation was cancelled", timings)
        except KioskError as err:
            return self._fallback(studio, str(err), timings)
        except Exception as err:  # supervised boundary: whatever failed, the guest gets the studio result
            log.exception("generation failed unexpectedly")
            return self._fallback(studio, f"generation failed: {type(err).__name__}: {err}", timings)

    def _fallback(self, studio: StudioResult, reason: str, timings: dict[str, float]) -> GenerativeResult:
        log.info("delivering the studio headshot: %s", reason)
        return GenerativeResult(
            image=studio.image,
            studio=studio,
            source_type="edited",
            fallback_reason=reason,
            notes=[*studio.notes, f"studio result delivered: {reason}"],
            timings_ms=timings,
        )

    def _generate(
        self,
        studio: StudioResult,
        style: str,
        seed: int,
        steps: int | None,
        strength: float | None,
        progress: Callable[[int, int], None] | None,
        cancel: Callable[[], bool] | None,
        timings: dict[str, float],
    ) -> GenerativeResult:
        assert self.generator is not None
        spec = studio.spec
        cw, ch = spec.cell
        ox, oy = spec.cell_origins()[0]
        cell = studio.image[oy : oy + ch, ox : ox + cw]
        matte = studio.mask[oy : oy + ch, ox : ox + cw]
        face = studio.face.scaled(1.0, -ox, -oy)

        t = time.monotonic()
        x0, y0, side = square_crop_box((cw, ch), face)
        res = self.generator.resolution
        crop = cell[y0 : y0 + side, x0 : x0 + side]
        small = cv2.resize(crop, (res, res), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        timings["crop"] = (time.monotonic() - t) * 1000.0

        t = time.monotonic()
        gen = self.generator.generate(
            rgb, style, seed=seed, steps=steps, strength=strength, progress=progress, cancel=cancel
        )
        timings["generate"] = (time.monotonic() - t) * 1000.0
        timings.update({f"generate.{k}": v for k, v in gen.timings_ms.items()})

        t = time.monotonic()
        out_bgr = cv2.cvtColor(np.clip(gen.image * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        big = cv2.resize(out_bgr, (side, side), interpolation=cv2.INTER_CUBIC)
        composed = cell.copy()
        sq = (slice(y0, y0 + side), slice(x0, x0 + side))
        feather = _square_feather((cw, ch), (x0, y0, side), width=max(1, side // 24))[sq]
        composed[sq] = cv2.blendLinear(big, cell[sq], feather, 1.0 - feather)
        fmask = face_mask((ch, cw), face, matte)
        final_cell = composed.copy()
        ys, xs = np.nonzero(fmask > 1e-3)
        if len(ys):
            # Blend only around the face: the pyramid over the whole cell would cost 10× more.
            pad = 32
            r0, r1 = max(0, ys.min() - pad), min(ch, ys.max() + pad + 1)
            c0, c1 = max(0, xs.min() - pad), min(cw, xs.max() + pad + 1)
            roi = (slice(r0, r1), slice(c0, c1))
            own_face = match_colour(cell[roi], composed[roi], fmask[roi])
            final_cell[roi] = laplacian_blend(own_face, composed[roi], fmask[roi])
        rows, cols = face_box(face, (ch, cw), inset=0.1)
        score = ssim(final_cell[rows, cols], cell[rows, cols])
        timings["paste_back"] = (time.monotonic() - t) * 1000.0
        if score < self.identity_min_ssim:
            return self._fallback(
                studio,
                f"the generated face did not match the guest (SSIM {score:.2f} < {self.identity_min_ssim})",
                timings,
            )
        image = studio.image.copy()
        for cx, cy in spec.cell_origins():
            image[cy : cy + ch, cx : cx + cw] = final_cell
        return GenerativeResult(
            image=image,
            studio=studio,
            source_type="ai-composite",
            seed=seed,
            style=style,
            face_ssim=score,
            notes=list(studio.notes),
            timings_ms=timings,
        )
