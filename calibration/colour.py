"""Colour calibration from a ColorChecker 24: find, sample, fit WB + CCM, score in ΔE2000.

The chart's patches are sampled, white balance and a colour correction matrix are fitted in linear
RGB, and the result is scored in ΔE2000 against the reference.

Finding the chart uses OpenCV's `mcc` module (opencv-contrib); sampling is our own: a homography from
the detected patch grid to its canonical layout and a median over the central part of each patch, so
the blur at patch edges and a few hot pixels never reach the fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from calibration.chart import COLS, NEUTRAL, PATCH_NAMES, REFERENCE_LAB_D50, REFERENCE_LINEAR_SRGB, ROWS, SKIN
from calibration.colorspace import delta_e2000, linear_srgb_to_lab, linear_to_srgb, srgb_to_linear
from calibration.errors import ChartNotFound

ColorModel = Literal["linear", "root-polynomial"]

# Canonical patch grid (arbitrary units): 40-unit patches on a 47-unit pitch; the detector's box is the
# outer edge of the outer patches.
_PATCH, _PITCH = 40.0, 47.0
_GRID_W = _PITCH * (COLS - 1) + _PATCH
_GRID_H = _PITCH * (ROWS - 1) + _PATCH
_SAMPLE_FRAC = 0.5  # side of the sampled square, as a fraction of the patch side
_CLIP_LEVEL = 0.985  # encoded value above which a channel counts as clipped
_MIN_PATCH_PX = 6.0  # a sampled square smaller than this (px per side) is too small to trust


@dataclass(frozen=True)
class ChartSample:
    """One ColorChecker found in an image: where it is and what its patches read."""

    corners: np.ndarray  # (4, 2) px: outer corners of the patch grid, chart-oriented TL, TR, BR, BL
    rgb: np.ndarray  # (24, 3) encoded RGB 0..1, median of each patch's centre
    spread: np.ndarray  # (24,) robust standard deviation inside each sampled square, encoded 0..1
    clipped: np.ndarray  # (24,) bool: some channel at or near full scale
    patch_px: float  # side of one sampled square, px

    @property
    def linear(self) -> np.ndarray:
        """Patch values decoded to linear light (the camera is assumed to deliver sRGB-encoded data)."""
        return srgb_to_linear(self.rgb)


def _grid_corners() -> np.ndarray:
    return np.array([[0, 0], [_GRID_W, 0], [_GRID_W, _GRID_H], [0, _GRID_H]], np.float32)


def sample_patches(bgr: np.ndarray, corners: np.ndarray) -> ChartSample:
    """Median RGB of each patch, given the four outer corners of the patch grid (TL, TR, BR, BL) in px."""
    corners = np.asarray(corners, np.float32).reshape(4, 2)
    hom = cv2.getPerspectiveTransform(_grid_corners(), corners)
    half = _PATCH * _SAMPLE_FRAC / 2
    h, w = bgr.shape[:2]
    rgb = np.zeros((24, 3))
    spread = np.zeros(24)
    clipped = np.zeros(24, bool)
    sides = []
    for i in range(24):
        r, c = divmod(i, COLS)
        cx, cy = c * _PITCH + _PATCH / 2, r * _PITCH + _PATCH / 2
        square = np.array(
            [[cx - half, cy - half], [cx + half, cy - half], [cx + half, cy + half], [cx - half, cy + half]]
        )
        quad = cv2.perspectiveTransform(square[None].astype(np.float32), hom)[0]
        if np.any(quad < 0) or np.any(quad[:, 0] >= w) or np.any(quad[:, 1] >= h):
            raise ChartNotFound("the ColorChecker is cut off by the frame edge: move it fully into view")
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 1)
        pix = bgr[mask.astype(bool)][:, ::-1].astype(np.float64) / 255.0
        if len(pix) < 9:
            raise ChartNotFound("the ColorChecker is too small in the frame: fill at least a quarter of it")
        med = np.median(pix, axis=0)
        rgb[i] = med
        mad = np.median(np.abs(pix - med), axis=0)
        spread[i] = float(np.max(mad)) * 1.4826
        clipped[i] = bool(np.any(np.percentile(pix, 90, axis=0) >= _CLIP_LEVEL))
        sides.append(float(np.sqrt(len(pix))))
    return ChartSample(
        corners=corners, rgb=rgb, spread=spread, clipped=clipped, patch_px=float(np.median(sides))
    )


def detect_chart(bgr: np.ndarray) -> ChartSample:
    """Find a ColorChecker 24 in a BGR uint8 image and sample its patches; raise ChartNotFound if none."""
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise ChartNotFound("expected an 8-bit colour image")
    detector = cv2.mcc.CCheckerDetector_create()  # type: ignore[attr-defined]  # reason: contrib module, no stubs
    # mcc reads charts best at moderate resolution; larger frames are searched on a downscaled copy.
    scale = min(1.0, 1600.0 / max(bgr.shape[:2]))
    small = bgr if scale == 1.0 else cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if not detector.process(small, 1):
        raise ChartNotFound(
            "no ColorChecker 24 found: make the chart fill at least a quarter of the frame, face the camera "
            "and avoid glare on the patches"
        )
    checker = detector.getBestColorChecker()
    corners = np.asarray(checker.getBox(), np.float32).reshape(4, 2) / scale
    sample = sample_patches(bgr, corners)
    if sample.patch_px < _MIN_PATCH_PX:
        raise ChartNotFound("the ColorChecker is too small in the frame: fill at least a quarter of it")
    _check_plausible(sample)
    return sample


def _check_plausible(sample: ChartSample) -> None:
    """Refuse a detection whose grey row is not a grey ramp: a false match, glare or an occluded chart."""
    lum = sample.linear[list(NEUTRAL)] @ np.array([0.2126, 0.7152, 0.0722])
    if not np.all(np.diff(lum) < 0):
        raise ChartNotFound(
            "found a chart, but its grey row is not a ramp from white to black: check for glare, shadows or "
            "something covering the patches"
        )
    if lum[0] < 0.02:
        raise ChartNotFound("the ColorChecker is far too dark: add light or raise the exposure")


@dataclass(frozen=True)
class ColorFit:
    """White balance gains and a colour correction matrix, both on linear RGB."""

    wb: np.ndarray  # (3,) per-channel gains, applied first
    ccm: np.ndarray  # (3, 3) for 'linear', (3, 6) for 'root-polynomial'
    model: ColorModel

    def apply_linear(self, rgb: np.ndarray) -> np.ndarray:
        """Correct linear RGB values (any leading shape, last axis = 3)."""
        x = np.asarray(rgb, dtype=np.float64) * self.wb
        return _expand(x, self.model) @ self.ccm.T


def _expand(x: np.ndarray, model: ColorModel) -> np.ndarray:
    if model == "linear":
        return x
    # Root-polynomial degree 2 (Finlayson, Mackiewicz & Hurlbert 2015): exposure-invariant cross terms.
    xp = np.clip(x, 0.0, None)
    r, g, b = xp[..., 0], xp[..., 1], xp[..., 2]
    cross = np.stack([np.sqrt(r * g), np.sqrt(g * b), np.sqrt(r * b)], axis=-1)
    return np.concatenate([x, cross], axis=-1)


def fit_color(
    measured: np.ndarray,
    reference: np.ndarray = REFERENCE_LINEAR_SRGB,
    *,
    model: ColorModel = "linear",
    skin_weight: float = 3.0,
    usable: np.ndarray | None = None,
    refine: bool = True,
) -> ColorFit:
    """Fit white balance (from the grey patches) and a CCM (weighted least squares) in linear RGB.

    Args:
        measured: (24, 3) linear camera RGB of the patches.
        reference: (24, 3) linear sRGB the patches should read.
        model: 'linear' (3×3) or 'root-polynomial' (3×6, degree 2).
        skin_weight: extra weight of the two skin patches, ≥ 1.
        usable: (24,) bool mask of patches to fit (e.g. not clipped); default all.
        refine: polish the least-squares matrix by minimising the weighted ΔE2000 itself.
    """
    measured = np.asarray(measured, np.float64)
    reference = np.asarray(reference, np.float64)
    use = np.ones(24, bool) if usable is None else np.asarray(usable, bool)
    greys = [i for i in NEUTRAL if use[i]]
    if len(greys) < 3:
        raise ChartNotFound(
            "fewer than three grey patches are usable (clipped or too dark): lower the exposure"
        )
    m, r = measured[greys], reference[greys]
    wb = np.sum(m * r, axis=0) / np.maximum(np.sum(m * m, axis=0), 1e-12)
    # Normalise WB to the green channel so the matrix carries the exposure, as camera pipelines do.
    wb = wb / wb[1]
    x = _expand(measured * wb, model)

    # Weight toward perceptual error: a linear-light residual matters more on a dark patch (ΔE scales
    # roughly with the relative error), and skin tones are what this kiosk is judged on.
    y_ref = reference @ np.array([0.2126, 0.7152, 0.0722])
    weights = 1.0 / (np.clip(y_ref, 0.0, None) + 0.05)
    weights[list(SKIN)] *= skin_weight
    weights = weights * use
    # Neutral patches carry the white balance the eye judges first: weight them up too.
    weights[list(NEUTRAL)] *= 2.0
    sw = np.sqrt(weights)[:, None]
    ccm = np.linalg.lstsq(x * sw, reference * sw, rcond=None)[0].T
    if refine:
        ccm = _refine_delta_e(x, ccm, weights)
    return ColorFit(wb=wb, ccm=ccm, model=model)


def _refine_delta_e(x: np.ndarray, ccm: np.ndarray, weights: np.ndarray, iterations: int = 15) -> np.ndarray:
    """Levenberg-Marquardt on the matrix entries, minimising sum(weight × ΔE2000²) over the patches.

    Least squares in linear light is only a proxy for what the eye sees; this polishes it on the
    metric the chart is judged by. Numeric derivatives: 9 or 18 unknowns, 24 residuals, cheap.
    """
    ref_lab = REFERENCE_LAB_D50
    sw = np.sqrt(weights)

    def residuals(flat: np.ndarray) -> np.ndarray:
        pred = x @ flat.reshape(ccm.shape).T
        return sw * delta_e2000(linear_srgb_to_lab(pred), ref_lab)

    p = ccm.ravel().copy()
    r = residuals(p)
    cost = float(r @ r)
    lam = 1e-3
    eps = 1e-6
    for _ in range(iterations):
        jac = np.empty((r.size, p.size))
        for k in range(p.size):
            q = p.copy()
            q[k] += eps
            jac[:, k] = (residuals(q) - r) / eps
        jtj = jac.T @ jac
        grad = jac.T @ r
        improved = False
        for _ in range(8):
            step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-12), -grad)
            q = p + step
            rq = residuals(q)
            cq = float(rq @ rq)
            if np.isfinite(cq) and cq < cost:
                p, r, cost = q, rq, cq
                lam = max(lam / 3, 1e-7)
                improved = True
                break
            lam *= 4
        if not improved or float(np.max(np.abs(step))) < 1e-7:
            break
    return p.reshape(ccm.shape)


@dataclass(frozen=True)
class ChartScore:
    """ΔE2000 of every patch against the reference."""

    delta_e: np.ndarray  # (24,)

    @property
    def mean(self) -> float:
        """Mean ΔE2000 over the 24 patches."""
        return float(np.mean(self.delta_e))

    @property
    def max(self) -> float:
        """Largest ΔE2000 of any patch."""
        return float(np.max(self.delta_e))

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly summary: mean, max, worst patch and the per-patch values."""
        worst = int(np.argmax(self.delta_e))
        return {
            "mean_delta_e2000": round(self.mean, 3),
            "max_delta_e2000": round(self.max, 3),
            "worst_patch": PATCH_NAMES[worst],
            "skin_delta_e2000": [round(float(self.delta_e[i]), 3) for i in SKIN],
            "patches": {name: round(float(v), 3) for name, v in zip(PATCH_NAMES, self.delta_e, strict=True)},
        }


def score_linear(linear_rgb: np.ndarray) -> ChartScore:
    """ΔE2000 of 24 linear sRGB patch values against the chart reference (D50 Lab)."""
    # What a display can show: out-of-range values clip as they would in the delivered JPEG.
    shown = srgb_to_linear(np.clip(linear_to_srgb(linear_rgb), 0, 1))
    return ChartScore(delta_e=delta_e2000(linear_srgb_to_lab(shown), REFERENCE_LAB_D50))


def score_sample(sample: ChartSample) -> ChartScore:
    """ΔE2000 of a sampled chart as it reads in the image (after any correction already applied)."""
    return score_linear(sample.linear)


# Encoding an image back to sRGB goes through a fine LUT: a per-pixel pow() costs ~10× more.
_ENCODE_STEPS = 1 << 14
_ENCODE_LUT = np.clip(np.round(linear_to_srgb(np.linspace(0, 1, _ENCODE_STEPS)) * 255), 0, 255).astype(
    np.uint8
)
_DECODE_LUT = srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)


def decode_bgr(bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (sRGB-encoded) -> linear RGB float32, H×W×3."""
    return _DECODE_LUT[bgr[..., ::-1]]


def encode_rgb(linear: np.ndarray) -> np.ndarray:
    """Linear RGB float -> BGR uint8 sRGB-encoded (clipping out-of-range values)."""
    idx = np.clip(linear, 0.0, 1.0) * (_ENCODE_STEPS - 1) + 0.5
    out = _ENCODE_LUT[idx.astype(np.int32)]
    return np.ascontiguousarray(out[..., ::-1])


def apply_fit(bgr: np.ndarray, fit: ColorFit) -> np.ndarray:
    """Apply a colour fit to a whole BGR uint8 image."""
    if fit.model != "linear":
        lin = decode_bgr(bgr)
        out = fit.apply_linear(lin.reshape(-1, 3)).reshape(lin.shape).astype(np.float32)
        return encode_rgb(out)
    # The linear model runs in BGR order end to end (the matrix is permuted instead of the pixels),
    # with OpenCV doing the decode LUT and the matrix: about half the time of the numpy path.
    lin = cv2.LUT(bgr, _DECODE_LUT.reshape(1, 256))
    m = (fit.ccm @ np.diag(fit.wb))[::-1, ::-1].astype(np.float32)
    mixed: np.ndarray = cv2.transform(lin, m)
    np.multiply(mixed, _ENCODE_STEPS - 1, out=mixed)
    np.add(mixed, 0.5, out=mixed)
    np.clip(mixed, 0, _ENCODE_STEPS - 1, out=mixed)
    return np.take(_ENCODE_LUT, mixed.astype(np.uint16))


@dataclass(frozen=True)
class ColorCalibration:
    """The result of calibrating from one chart capture."""

    fit: ColorFit
    before: ChartScore  # the chart as captured
    after: ChartScore  # the chart re-sampled from the corrected image (8-bit output included)
    sample: ChartSample

    @property
    def clipped_patches(self) -> list[str]:
        """Names of patches clipped in the capture (left out of the fit; lower the exposure to fix)."""
        return [PATCH_NAMES[i] for i in np.flatnonzero(self.sample.clipped)]


def calibrate_color(
    bgr: np.ndarray, *, model: ColorModel = "linear", skin_weight: float = 3.0
) -> ColorCalibration:
    """Find the chart in a capture, fit the correction, and score it before and after."""
    sample = detect_chart(bgr)
    fit = fit_color(sample.linear, model=model, skin_weight=skin_weight, usable=~sample.clipped)
    corrected = sample_patches(apply_fit(bgr, fit), sample.corners)
    return ColorCalibration(
        fit=fit, before=score_sample(sample), after=score_sample(corrected), sample=sample
    )
