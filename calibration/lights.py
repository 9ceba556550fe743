"""Closed-loop light calibration: set the key, fill and backdrop levels, meter a camera frame, adjust.

The plant is close to linear in light (the camera's sRGB encoding is undone before metering): each
measured luminance is an ambient term plus a weighted sum of the channel levels. The loop measures
that response (one probe per channel), solves for the levels that hit the targets, and refines its
estimate with Broyden updates from every step, so it also copes with spill between the lights and a
response that is not quite linear. It stops when every target is met within tolerance or after a
bounded number of frames.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from calibration.colorspace import linear_to_srgb, srgb_to_linear
from calibration.errors import LightsError

if TYPE_CHECKING:
    from firmware_bridge.client import BridgeClient

log = logging.getLogger(__name__)

ROLES = ("key", "fill", "backdrop")
_LUMA = np.array([0.0722, 0.7152, 0.2126])  # BGR order, Rec. 709 weights on linear light


class LightController(Protocol):
    """Sets light levels by role ('key', 'fill', 'backdrop'); levels are 0..1000 (permille)."""

    def set_levels(self, levels: Mapping[str, int]) -> None:
        """Set the given roles' levels (others unchanged); return once the device has taken them."""
        ...

    def read_levels(self) -> dict[str, int]:
        """The levels the device reports it is driving now."""
        ...


class BridgeLights:
    """A LightController over the firmware bridge: `firmware_bridge.client.BridgeClient` underneath.

    Levels go out as acknowledged SET_LIGHT commands with no fade; read_levels() asks the controller
    for its STATUS, so what the loop sees is what the firmware drives, not what the host hoped for.

    Args:
        client: a BridgeClient whose handshake is done (`wait_ready()`).
        channels: role name -> channel index.
        max_ms: how long the firmware keeps each level before returning it to safe, ms.
    """

    def __init__(self, client: BridgeClient, channels: Mapping[str, int], max_ms: int = 600000) -> None:
        unknown = set(channels) - set(ROLES)
        if unknown:
            raise LightsError(f"unknown light role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")
        if len(set(channels.values())) != len(channels):
            raise LightsError(f"two light roles share a channel: {dict(channels)}; give each its own channel")
        info = client.info
        if info is not None:
            missing = {r: c for r, c in channels.items() if c >= info.light_channels}
            if missing:
                raise LightsError(
                    f"the controller has {info.light_channels} light channels but {missing} are configured: "
                    "fix [calibration.channels]"
                )
        self.client = client
        self.channels = dict(channels)
        self.max_ms = max_ms

    def set_levels(self, levels: Mapping[str, int]) -> None:
        """Send each role's level to its channel, instantly (no fade), waiting for every ack."""
        for role in levels:
            if role not in self.channels:
                raise LightsError(f"no channel configured for light role '{role}'")
        self.client.set_lights(
            {self.channels[role]: int(level) for role, level in levels.items()}, fade_ms=0, max_ms=self.max_ms
        )

    def read_levels(self) -> dict[str, int]:
        """Channel levels from the controller's STATUS reply, by role."""
        levels = self.client.status().levels
        return {role: int(levels[ch]) for role, ch in self.channels.items()}


@dataclass(frozen=True)
class Reading:
    """Linear-light luminance (0..1) of the three metered regions of one frame."""

    key: float  # the key-lit half of the face
    fill: float  # the fill-lit half of the face
    backdrop: float  # backdrop behind the guest

    def vector(self) -> np.ndarray:
        """As an array in ROLES order."""
        return np.array([self.key, self.fill, self.backdrop])


class Meter(Protocol):
    """Measures a frame: luminance of the face's two halves and of the backdrop."""

    def measure(self, bgr: np.ndarray) -> tuple[float, float, float]:
        """(left half of the face, right half of the face, backdrop), linear light 0..1, image sides."""
        ...


def region_luminance(bgr: np.ndarray, mask: np.ndarray) -> float:
    """Median linear luminance (0..1) of the pixels where mask is true."""
    pix = bgr[mask]
    if len(pix) == 0:
        raise LightsError("a metering region is empty: the face or the backdrop is out of frame")
    lin = srgb_to_linear(pix.astype(np.float64) / 255.0) @ _LUMA
    return float(np.median(lin))


class RegionMeter:
    """Meters fixed regions: for a booth whose framing is fixed (and for tests with a known scene).

    Args:
        face: (x, y, w, h) of the face box, px; split in two at its vertical centre line.
        backdrop: (x, y, w, h) of a backdrop patch that no one stands in front of, px.
    """

    def __init__(self, face: tuple[int, int, int, int], backdrop: tuple[int, int, int, int]) -> None:
        self.face = face
        self.backdrop = backdrop

    def measure(self, bgr: np.ndarray) -> tuple[float, float, float]:
        """Left face half, right face half, backdrop."""
        h, w = bgr.shape[:2]
        x, y, fw, fh = self.face
        left = np.zeros((h, w), bool)
        right = np.zeros((h, w), bool)
        left[y : y + fh, x : x + fw // 2] = True
        right[y : y + fh, x + fw // 2 : x + fw] = True
        bx, by, bw, bh = self.backdrop
        back = np.zeros((h, w), bool)
        back[by : by + bh, bx : bx + bw] = True
        return region_luminance(bgr, left), region_luminance(bgr, right), region_luminance(bgr, back)


class FaceMeter:
    """Meters whoever stands in the frame: MediaPipe face box split at the nose, backdrop from the matte.

    Args:
        detector: a `models.vision.FaceDetector` (or anything with `detect(bgr) -> list[Face]`).
        segmenter: a `models.vision.SelfieSegmenter` (or anything with `segment(bgr) -> mask`).
    """

    def __init__(self, detector: Any, segmenter: Any) -> None:
        self.detector = detector
        self.segmenter = segmenter

    def measure(self, bgr: np.ndarray) -> tuple[float, float, float]:
        """Left face half, right face half, backdrop (pixels the matte calls background)."""
        import cv2

        faces = self.detector.detect(bgr)
        if not faces:
            raise LightsError("no face in the metering frame: have a stand-in sit in the guest's place")
        face = max(faces, key=lambda f: f.area)
        h, w = bgr.shape[:2]
        # The skin between brow and mouth: the box's central band, away from hair and background.
        x0, x1 = int(face.x + 0.15 * face.w), int(face.x + 0.85 * face.w)
        y0, y1 = int(face.y + 0.25 * face.h), int(face.y + 0.85 * face.h)
        nose = face.keypoints.get("nose", face.center)
        split = int(np.clip(nose[0], x0 + 2, x1 - 2))
        x0, x1, y0, y1 = max(x0, 0), min(x1, w), max(y0, 0), min(y1, h)
        left = np.zeros((h, w), bool)
        right = np.zeros((h, w), bool)
        left[y0:y1, x0:split] = True
        right[y0:y1, split:x1] = True
        matte = cv2.resize(self.segmenter.segment(bgr), (w, h), interpolation=cv2.INTER_LINEAR)
        back = matte < 0.1
        if back.mean() < 0.05:
            raise LightsError("almost no backdrop visible in the metering frame: zoom out or step back")
        return region_luminance(bgr, left), region_luminance(bgr, right), region_luminance(bgr, back)


@dataclass(frozen=True)
class LightTargets:
    """What the loop aims for; see CalibrationConfig for the meaning of each."""

    exposure: float = 0.5  # sRGB level of the key-lit side of the face, 0..1
    key_fill_ratio: float = 2.0
    backdrop_ratio: float = 0.8
    tolerance: float = 0.04
    max_iterations: int = 12

    def vector(self) -> np.ndarray:
        """Linear luminance targets in ROLES order."""
        key = float(srgb_to_linear(np.array(self.exposure)))
        return np.array([key, key / self.key_fill_ratio, key * self.backdrop_ratio])


@dataclass
class LightResult:
    """Where the loop ended: levels, what it measured there, and how it got there."""

    levels: dict[str, int]
    reading: Reading
    converged: bool
    iterations: int  # frames metered, probes included
    key_side: str  # 'left' or 'right': which half of the face (image sides) the key light lights
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exposure(self) -> float:
        """SRGB level of the key-lit side of the face."""
        return float(linear_to_srgb(np.array(self.reading.key)))

    @property
    def key_fill_ratio(self) -> float:
        """Measured key:fill luminance ratio."""
        return float(self.reading.key / max(self.reading.fill, 1e-6))

    @property
    def backdrop_ratio(self) -> float:
        """Measured backdrop / key-side luminance."""
        return float(self.reading.backdrop / max(self.reading.key, 1e-6))

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "converged": self.converged,
            "iterations": self.iterations,
            "levels": self.levels,
            "exposure": round(self.exposure, 4),
            "key_fill_ratio": round(float(self.key_fill_ratio), 3),
            "backdrop_ratio": round(float(self.backdrop_ratio), 3),
            "key_side": self.key_side,
        }


def _errors(y: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.abs(y - target) / target


def converge(
    lights: LightController,
    grab: Callable[[], np.ndarray],
    meter: Meter,
    targets: LightTargets,
    *,
    start: Mapping[str, int] | None = None,
    settle_s: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> LightResult:
    """Drive the lights until the metered face and backdrop hit the targets, or the frame budget ends.

    Args:
        lights: the controller; levels are 0..1000.
        grab: returns the next camera frame (BGR uint8) taken after the lights were set.
        meter: measures a frame's face halves and backdrop.
        targets: exposure, ratios, tolerance and the frame budget (max_iterations).
        start: levels to begin from (e.g. the last calibration's); default 500 each.
        settle_s: wait after setting levels before grabbing, s (lamp warm-up, camera auto-exposure lag).
        sleep: the wait function (injected so tests need no real waiting).
    """
    target = targets.vector()
    u = np.array([float((start or {}).get(r, 500)) for r in ROLES])
    history: list[dict[str, Any]] = []
    frames = 0

    def step(levels: np.ndarray) -> np.ndarray:
        nonlocal frames
        ints = {r: round(float(v)) for r, v in zip(ROLES, np.clip(levels, 0, 1000), strict=True)}
        lights.set_levels(ints)
        if settle_s > 0:
            sleep(settle_s)
        left, right, back = meter.measure(grab())
        frames += 1
        history.append({"levels": ints, "left": left, "right": right, "backdrop": back})
        return np.array([left, right, back])

    if targets.max_iterations < 4:
        raise LightsError("the light loop needs at least 4 frames: one base reading and a probe per light")
    raw0 = step(u)
    # Probe each channel in turn to measure its effect; step away from whichever end is nearer.
    probe = 200.0
    jac_raw = np.zeros((3, 3))
    for j in range(3):
        delta = probe if u[j] + probe <= 1000 else -probe
        v = u.copy()
        v[j] += delta
        jac_raw[:, j] = (step(v) - raw0) / delta
    # Which half of the face does the key light? The one the key channel brightens more.
    key_side = "left" if jac_raw[0, 0] >= jac_raw[1, 0] else "right"
    order = [0, 1, 2] if key_side == "left" else [1, 0, 2]
    jac = jac_raw[order]
    y = raw0[order]
    if np.linalg.matrix_rank(jac, tol=1e-7) < 3 or np.any(np.diag(jac) <= 0):
        raise LightsError(
            "the lights do not change the metered face and backdrop as expected: check that the key, fill "
            "and backdrop channels are wired as configured and aimed at the guest and the backdrop"
        )

    best_u, best_y = u.copy(), y.copy()
    converged = bool(np.all(_errors(y, target) <= targets.tolerance))
    while not converged and frames < targets.max_iterations:
        du = np.linalg.solve(jac, target - y)
        new_u = np.clip(u + du, 0, 1000)
        if np.allclose(new_u, u, atol=0.5):
            break  # pinned at a limit: more frames will not help
        new_raw = step(new_u)
        new_y = new_raw[order]
        # Broyden's rank-one update: keep the response model consistent with the latest step.
        s = new_u - u
        jac = jac + np.outer(new_y - y - jac @ s, s) / float(s @ s)
        u, y = new_u, new_y
        if np.max(_errors(y, target)) < np.max(_errors(best_y, target)):
            best_u, best_y = u.copy(), y.copy()
        converged = bool(np.all(_errors(y, target) <= targets.tolerance))
    if not converged and not np.allclose(u, best_u):
        lights.set_levels({r: round(float(v)) for r, v in zip(ROLES, best_u, strict=True)})
    u, y = best_u, best_y
    levels = {r: round(float(v)) for r, v in zip(ROLES, u, strict=True)}
    result = LightResult(
        levels=levels,
        reading=Reading(*y),
        converged=converged,
        iterations=frames,
        key_side=key_side,
        history=history,
    )
    log.info("light loop: %s", result.as_dict())
    return result


def explain_failure(result: LightResult, targets: LightTargets) -> str:
    """One line telling the operator why the loop missed its targets and what to change."""
    target = targets.vector()
    err = (result.reading.vector() - target) / target
    worst = int(np.argmax(np.abs(err)))
    role = ROLES[worst]
    level = result.levels[role]
    if err[worst] < 0 and level >= 1000:
        return (
            f"the {role} light is at full power and still too dim: move it closer or raise the exposure"
        )
    if err[worst] > 0 and level <= 0:
        return (
            f"the {role} region is too bright with its light off: reduce ambient light or lower the exposure"
        )
    return (
        f"the {role} level missed its target by {err[worst]:+.0%} after {result.iterations} frames: "
        "check for flicker or a camera on auto-exposure, then run `kiosk calibrate lights` again"
    )
