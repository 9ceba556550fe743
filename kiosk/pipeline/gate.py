"""The AI headshot's quality gate: four checks that fail on bad output, each measured on the result.

1. **Seam**: along the inside of the kept region's edge, the guest's own pixels against what the model drew
   there, both low-passed. Masked generation keeps the guest's latents, so a sound result redraws the kept
   region nearly as it was and its surroundings join it smoothly; a model whose colours drift, or that
   draws noise, leaves a visible seam where the own pixels go back in.
2. **Noise / structure** of the regenerated region, at the model's own resolution: a noise estimate
   (Immerkær's Laplacian-difference kernel, σ in 8-bit levels) and how the detail energy spreads over
   scales (finest band against two octaves coarser: photographs hold their detail across scales, noise
   piles it into the finest band).
3. **One face, the guest's**: an independent face detection on the result must find exactly one face, at
   the guest's place (no generated extra faces, no lost face).
4. **Skin continuity at the neckline**: where the model drew skin below the kept neck, its colour must
   continue the guest's own neck above the cut, or the guest's own skin at the same place (CIEDE2000).

Thresholds are constants here, not configuration: they were set on good and bad outputs (see the tests
and bench/generate.py) and are reported with every measure, so the operator sees by how much a result failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from kiosk.pipeline.colour import bgr_to_lab, delta_e2000, mean_lab
from kiosk.pipeline.keep import Neckline, NeckSkin
from models.vision import Face

SEAM_MAX = 15.0  # 90th percentile ΔE (CIE76, low-passed) inside the kept edge
NOISE_MAX = 3.0  # σ of the regenerated region's noise, 8-bit levels
FINE_ENERGY_MAX = 3.0  # finest band's detail energy over the band two octaves coarser
FACE_IOU_MIN = 0.4  # overlap of the found face with the guest's
OTHER_FACE_SCORE = 0.5  # a second face this sure (the detectors' own threshold) fails the check
NECK_DELTA_E_MAX = 12.0  # CIEDE2000 (kL = 2) between the own neck and generated neck skin
SKIN_SIGMA = 14.0  # chroma distance (YCrCb) still counted as skin: wide enough for another skin tone
NECK_SKIN_SHARE = 0.25  # below this share of skin-like pixels the model drew clothes there: nothing to compare


@dataclass(frozen=True)
class GateInputs:
    """What the gate looks at, all on the canvas unless said otherwise."""

    final: np.ndarray  # the composite, BGR uint8
    drawn: np.ndarray  # the model's output enlarged to the canvas, BGR uint8
    small: np.ndarray  # the model's output at its own resolution, BGR uint8
    small_mask: np.ndarray  # regenerated region at the model's resolution, float32 0..1
    keep: np.ndarray  # alpha of the guest's own pixels, float32 0..1
    face: Face  # the guest's face
    neck: Neckline
    skin: NeckSkin | None  # the guest's own neck colour above the neckline
    own: np.ndarray | None = None  # the guest's own colours on the canvas (the photo below the cut too)


@dataclass
class GateReport:
    """Every measure, and the first check that failed (None: passed)."""

    measures: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # check -> why
    ms: float = 0.0

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return not self.failures

    @property
    def failed(self) -> str | None:
        """The first check that failed."""
        return next(iter(self.failures), None)

    @property
    def reason(self) -> str | None:
        """Every failed check's reason, in one line."""
        return "; ".join(self.failures.values()) or None

    def fail(self, check: str, reason: str) -> None:
        """Record a failed check."""
        self.failures.setdefault(check, reason)


def seam(inputs: GateInputs) -> float:
    """90th percentile ΔE between own and drawn pixels, low-passed, in a ring inside the kept edge."""
    fh = inputs.face.h
    q = max(1, int(fh / 64))  # measured at a scale where the face is ~64 px: seams are low-frequency
    h, w = inputs.keep.shape
    size = (max(8, w // q), max(8, h // q))
    keep = cv2.resize(inputs.keep, size, interpolation=cv2.INTER_AREA)
    inside = keep > 0.5
    width = max(1, round(0.1 * fh / q))
    ring = inside & ~cv2.erode(inside.astype(np.uint8), np.ones((2 * width + 1,) * 2, np.uint8)).astype(bool)
    if ring.sum() < 20:
        return 0.0
    sigma = max(0.8, 0.04 * fh / q)
    own = cv2.GaussianBlur(bgr_to_lab(cv2.resize(inputs.final, size, interpolation=cv2.INTER_AREA)), (0, 0), sigma)
    drawn = cv2.GaussianBlur(bgr_to_lab(cv2.resize(inputs.drawn, size, interpolation=cv2.INTER_AREA)), (0, 0), sigma)
    return float(np.percentile(np.linalg.norm(own - drawn, axis=2)[ring], 90))


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_sigma(gray: np.ndarray, region: np.ndarray) -> float:
    """Immerkær's (1996) noise estimate σ (8-bit levels) over a region of a greyscale image."""
    resp = np.abs(cv2.filter2D(gray.astype(np.float32), -1, _IMMERKAER, borderType=cv2.BORDER_REFLECT))
    inner = cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if inner.sum() < 50:
        return 0.0
    return float(np.sqrt(np.pi / 2.0) / 6.0 * resp[inner].mean())


def fine_energy_ratio(gray: np.ndarray, region: np.ndarray) -> float:
    """Detail energy of the finest band over that of the band two octaves coarser, within a region."""
    g0 = gray.astype(np.float32)
    g1 = cv2.pyrDown(g0)
    g2 = cv2.pyrDown(g1)
    g3 = cv2.pyrDown(g2)
    band0 = g0 - cv2.pyrUp(g1, dstsize=(g0.shape[1], g0.shape[0]))
    band2 = g2 - cv2.pyrUp(g3, dstsize=(g2.shape[1], g2.shape[0]))
    r0 = cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    r2 = cv2.resize(r0.astype(np.uint8), (g2.shape[1], g2.shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)
    if r0.sum() < 100 or r2.sum() < 10:
        return 0.0
    e0 = float((band0[r0] ** 2).mean())
    e2 = float((band2[r2] ** 2).mean())
    return e0 / max(e2, 1e-3)


def _iou(a: Face, b: Face) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / max(1e-6, a.area + b.area - inter)


def neck_continuity(inputs: GateInputs) -> tuple[float, float]:
    """(CIEDE2000 with lightness at half weight between own and drawn neck skin, share of skin-like pixels).

    Measured just below the neckline; lightness counts half (kL = 2) because a neck is shaded from the chin
    down, while a different skin tone differs in hue and chroma too.
    """
    line, fh, skin = inputs.neck, inputs.face.h, inputs.skin
    h, w = inputs.final.shape[:2]
    x0, x1 = max(0, int(line.x0)), min(w, int(line.x1))
    below = inputs.final[min(h, int(line.y + 0.05 * fh)): min(h, int(line.y + 0.25 * fh)), x0:x1]
    if skin is None or below.size == 0:
        return 0.0, 0.0
    like = skin.likeness(below, sigma=SKIN_SIGMA) > 0.5
    share = float(like.mean())
    if share < NECK_SKIN_SHARE:
        return 0.0, share
    drawn = mean_lab(below, like.astype(np.float32))
    de = float(delta_e2000(skin.lab, drawn, kl=2.0))
    if inputs.own is not None:
        # A real neck is shaded from the chin down: skin the model drew as the photo's own skin at the same
        # place continues the guest as well as skin matching the neck above the cut.
        photo = inputs.own[min(h, int(line.y + 0.05 * fh)): min(h, int(line.y + 0.25 * fh)), x0:x1]
        photo_skin = skin.likeness(photo, sigma=SKIN_SIGMA) > 0.5
        if photo_skin.mean() >= NECK_SKIN_SHARE:
            de = min(de, float(delta_e2000(mean_lab(photo, photo_skin.astype(np.float32)), drawn, kl=2.0)))
    return de, share


def check(inputs: GateInputs, detect: Callable[[np.ndarray], list[Face]]) -> GateReport:
    """Run the four checks; the report holds every measure and the first failure."""
    t0 = time.monotonic()
    report = GateReport()
    m = report.measures
    m["seam_delta_e_p90"] = round(seam(inputs), 2)
    if m["seam_delta_e_p90"] > SEAM_MAX:
        report.fail("seam", f"the generated picture does not join the guest's own pixels "
                            f"(seam ΔE {m['seam_delta_e_p90']:.1f} > {SEAM_MAX:.0f})")
    gray = cv2.cvtColor(inputs.small, cv2.COLOR_BGR2GRAY)
    region = inputs.small_mask > 0.5
    m["noise_sigma"] = round(noise_sigma(gray, region), 2)
    m["fine_energy_ratio"] = round(fine_energy_ratio(gray, region), 2)
    if m["noise_sigma"] > NOISE_MAX or m["fine_energy_ratio"] > FINE_ENERGY_MAX:
        report.fail("noise", f"the generated backdrop and clothes are noise, not a picture (noise σ "
                             f"{m['noise_sigma']:.1f} > {NOISE_MAX:.0f} or fine-detail ratio "
                             f"{m['fine_energy_ratio']:.1f} > {FINE_ENERGY_MAX:.0f})")
    faces = detect(inputs.final)
    at_guest = [f for f in faces if _iou(f, inputs.face) >= FACE_IOU_MIN]
    others = [f for f in faces if _iou(f, inputs.face) < FACE_IOU_MIN and f.score >= OTHER_FACE_SCORE]
    m["faces_found"] = float(len(faces))
    m["guest_face_iou"] = round(max((_iou(f, inputs.face) for f in faces), default=0.0), 3)
    if not at_guest:
        report.fail("face", "the guest's face is not found where it was in the result")
    elif others:
        report.fail("face", f"the result shows {len(others) + 1} faces (the model drew another face)")
    de, share = neck_continuity(inputs)
    m["neck_delta_e"] = round(de, 2)
    m["neck_skin_share"] = round(share, 3)
    if de > NECK_DELTA_E_MAX:
        report.fail("neck", f"the generated neck's skin does not continue the guest's own "
                            f"(ΔE2000 {de:.1f} > {NECK_DELTA_E_MAX:.0f})")
    report.ms = (time.monotonic() - t0) * 1000.0
    return report
