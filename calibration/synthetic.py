"""Synthetic captures with a known answer, for tests and benchmarks (never used on a real capture).

A ColorChecker in a scene under a chosen illuminant, a chessboard seen through a lens with known
distortion, and a booth whose brightness responds to the light levels in a known, linear way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.chart import CARD_MM, PATCH_MM, REFERENCE_LAB_D50, patch_centers_mm
from calibration.colorspace import (
    WHITE_D50,
    WHITE_D65,
    XYZ_TO_SRGB,
    bradford,
    lab_to_xyz,
    linear_to_srgb,
    xy_to_xyz,
)

# Chromaticities (CIE 15:2004) of the illuminants the tests render under.
ILLUMINANTS_XY: dict[str, tuple[float, float]] = {
    "D65": (0.31271, 0.32902),
    "D50": (0.34567, 0.35850),
    "A": (0.44757, 0.40745),  # tungsten, 2856 K
    "F2": (0.37208, 0.37529),  # cool-white fluorescent
    "F11": (0.38052, 0.37713),  # narrow-band tri-phosphor fluorescent
}

# A camera's sensitivities are not the sRGB colour-matching functions: this crosstalk, applied after
# the ideal sRGB conversion, mixes channels the way a typical Bayer sensor does before its own matrix.
DEFAULT_CROSSTALK = np.array(
    [
        [0.86, 0.12, 0.02],
        [0.07, 0.86, 0.07],
        [0.02, 0.16, 0.82],
    ]
)


@dataclass(frozen=True)
class ChartScene:
    """How to render a chart capture; every field has a physical meaning and a sensible default."""

    illuminant: str = "D65"
    cast_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)  # extra per-channel gains, camera RGB
    exposure: float = 1.0  # linear scale; 1 puts the white patch near 90 % of full scale
    noise: float = 0.004  # read-noise sigma, linear units; shot noise scales with signal
    size: tuple[int, int] = (1280, 960)  # output width, height, px
    chart_width_frac: float = 0.5  # chart width as a fraction of the frame width
    tilt_deg: tuple[float, float, float] = (12.0, -8.0, 4.0)  # rotation about x, y, z
    center: tuple[float, float] = (0.5, 0.52)  # chart centre, fraction of the frame
    blur_px: float = 1.2  # Gaussian sigma of the lens blur
    crosstalk: tuple[tuple[float, float, float], ...] | None = None  # default: DEFAULT_CROSSTALK
    seed: int = 0


def _camera_matrix(scene: ChartScene) -> np.ndarray:
    """XYZ (scene) -> linear camera RGB, with the camera's fixed daylight white balance baked in."""
    ct = np.array(scene.crosstalk) if scene.crosstalk is not None else DEFAULT_CROSSTALK
    m = ct @ XYZ_TO_SRGB
    # The camera white-balances for D65: a D65 white gives equal channels.
    wb = 1.0 / (m @ WHITE_D65)
    return np.diag(wb) @ m


def patch_camera_rgb(scene: ChartScene) -> np.ndarray:
    """Linear camera RGB (before exposure/noise) of the 24 patches lit by the scene's illuminant."""
    x, y = ILLUMINANTS_XY[scene.illuminant]
    adapt = bradford(WHITE_D50, xy_to_xyz(x, y))
    xyz = lab_to_xyz(REFERENCE_LAB_D50) @ adapt.T
    rgb = xyz @ _camera_matrix(scene).T
    return rgb * np.asarray(scene.cast_gains) * scene.exposure * 0.95


def _homography(scene: ChartScene, card_px: tuple[int, int]) -> np.ndarray:
    """Card pixel -> frame pixel homography: a card rotated in 3D and seen by a pinhole camera."""
    w, h = scene.size
    f = 1.2 * w
    rx, ry, rz = np.radians(scene.tilt_deg)
    rot, _ = cv2.Rodrigues(np.array([rx, ry, 0.0]))
    rz_m = np.array([[np.cos(rz), -np.sin(rz), 0], [np.sin(rz), np.cos(rz), 0], [0, 0, 1]])
    rot = rot @ rz_m
    cw, ch = card_px
    # Card plane at a depth that makes its width chart_width_frac of the frame.
    z = f * cw / (scene.chart_width_frac * w)
    cx, cy = scene.center[0] * w, scene.center[1] * h
    k = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])
    # Card pixel (u, v) -> 3D point rot @ (u - cw/2, v - ch/2, 0) + (0, 0, z).
    m = np.column_stack([rot[:, 0], rot[:, 1], np.array([0, 0, z]) - rot[:, 0] * cw / 2 - rot[:, 1] * ch / 2])
    hom = k @ m
    return hom / hom[2, 2]


def render_chart(scene: ChartScene) -> np.ndarray:
    """A BGR uint8 capture of a ColorChecker 24 on a textured wall, as the scene describes."""
    rng = np.random.default_rng(scene.seed)
    w, h = scene.size
    px_per_mm = 4.0
    card = (round(CARD_MM[0] * px_per_mm), round(CARD_MM[1] * px_per_mm))
    patches = patch_camera_rgb(scene)
    # The card body is black plastic (about 1.5 % reflectance, neutral).
    illum = patches[21] / 0.19  # neutral 5 reflects about 19 %: this is the light's colour at 100 %
    canvas = np.empty((card[1], card[0], 3), np.float32)
    canvas[:] = illum * 0.015
    half = PATCH_MM * px_per_mm / 2
    for (cx, cy), rgb in zip(patch_centers_mm() * px_per_mm, patches, strict=True):
        canvas[round(cy - half) : round(cy + half), round(cx - half) : round(cx + half)] = rgb

    # The wall: a warm mid-grey with low-frequency texture, lit by the same light.
    wall = np.empty((h, w, 3), np.float32)
    wall[:] = illum * np.array([0.30, 0.27, 0.22])
    tex = cv2.resize(rng.normal(1.0, 0.08, (h // 32 + 1, w // 32 + 1)).astype(np.float32), (w, h))
    wall *= tex[..., None]

    hom = _homography(scene, card)
    warped = cv2.warpPerspective(canvas, hom, (w, h), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones(canvas.shape[:2], np.float32), hom, (w, h), flags=cv2.INTER_LINEAR)
    img = wall * (1 - mask[..., None]) + warped * mask[..., None]
    if scene.blur_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), scene.blur_px)
    # Shot noise (variance proportional to signal) plus read noise.
    sigma = np.sqrt(np.clip(img, 0, None) * scene.noise * 0.5 + scene.noise**2)
    img = img + rng.standard_normal(img.shape, dtype=np.float32) * sigma
    srgb = linear_to_srgb(np.clip(img, 0.0, 1.0))
    rgb8 = np.clip(np.round(srgb * 255), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb8[..., ::-1])


def grid_corners(scene: ChartScene) -> np.ndarray:
    """Frame px of the patch grid's outer corners (TL, TR, BR, BL), what the detector should find."""
    px_per_mm = 4.0
    card = (round(CARD_MM[0] * px_per_mm), round(CARD_MM[1] * px_per_mm))
    centers = patch_centers_mm()
    half = PATCH_MM / 2
    x0, y0 = centers[0] - half
    x1, y1 = centers[-1] + half
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64) * px_per_mm
    return cv2.perspectiveTransform(pts[None], _homography(scene, card))[0]


def chart_corners(scene: ChartScene) -> np.ndarray:
    """Frame px of the card's four corners (top-left, top-right, bottom-right, bottom-left)."""
    px_per_mm = 4.0
    card = (round(CARD_MM[0] * px_per_mm), round(CARD_MM[1] * px_per_mm))
    hom = _homography(scene, card)
    pts = np.array([[0, 0], [card[0], 0], [card[0], card[1]], [0, card[1]]], np.float64)
    return cv2.perspectiveTransform(pts[None], hom)[0]


@dataclass(frozen=True)
class LensScene:
    """A camera with known intrinsics and distortion looking at a chessboard."""

    size: tuple[int, int] = (640, 480)
    focal_px: float = 560.0
    center: tuple[float, float] = (326.0, 236.0)
    distortion: tuple[float, float, float, float, float] = (-0.28, 0.09, 0.0006, -0.0004, 0.0)
    board: tuple[int, int] = (9, 6)  # inner corners (columns, rows)
    square_mm: float = 25.0

    @property
    def camera_matrix(self) -> np.ndarray:
        """The true 3×3 intrinsics, px."""
        return np.array([[self.focal_px, 0, self.center[0]], [0, self.focal_px, self.center[1]], [0, 0, 1.0]])


def _pixel_rays(scene: LensScene, supersample: int) -> np.ndarray:
    """Normalised undistorted coordinates (x, y) of every sub-pixel of the distorted image."""
    w, h = scene.size
    s = supersample
    xs = (np.arange(w * s) + 0.5) / s - 0.5
    ys = (np.arange(h * s) + 0.5) / s - 0.5
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 1, 2).astype(np.float64)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-9)
    und = cv2.undistortPoints(
        grid, scene.camera_matrix, np.array(scene.distortion), R=None, P=None, criteria=crit
    )
    return und.reshape(h * s, w * s, 2)


def render_chessboards(
    scene: LensScene, poses: list[tuple[np.ndarray, np.ndarray]], seed: int = 0
) -> list[np.ndarray]:
    """Grey uint8 captures of the board at each (rvec, tvec mm) pose, through the distorting lens."""
    rng = np.random.default_rng(seed)
    s = 2
    rays = _pixel_rays(scene, s)
    ones = np.ones((*rays.shape[:2], 1))
    xyw = np.concatenate([rays, ones], axis=-1)
    cols, rows = scene.board[0] + 1, scene.board[1] + 1
    out = []
    for rvec, tvec in poses:
        rot, _ = cv2.Rodrigues(np.asarray(rvec, np.float64))
        hom = np.column_stack([rot[:, 0], rot[:, 1], np.asarray(tvec, np.float64)])
        board = xyw @ np.linalg.inv(hom).T
        bx = board[..., 0] / board[..., 2] / scene.square_mm
        by = board[..., 1] / board[..., 2] / scene.square_mm
        # Inner corner (0, 0) sits at the origin, so squares span -1..cols-1 by -1..rows-1.
        inside = (bx >= -1) & (bx < cols - 1) & (by >= -1) & (by < rows - 1)
        margin = (bx >= -2) & (bx < cols) & (by >= -2) & (by < rows)
        dark = ((np.floor(bx) + np.floor(by)) % 2 == 0) & inside
        img = np.full(bx.shape, 0.35)
        img[margin] = 0.9
        img[dark] = 0.08
        img = cv2.resize(img.astype(np.float32), scene.size, interpolation=cv2.INTER_AREA)
        img = cv2.GaussianBlur(img, (0, 0), 0.7) + rng.normal(0, 0.01, img.shape).astype(np.float32)
        out.append(np.clip(np.round(img * 255), 0, 255).astype(np.uint8))
    return out


def default_board_poses(scene: LensScene, n: int = 12, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """N varied board poses (rvec rad, tvec mm) whose whole board (with margin) stays in the frame.

    The poses spread the board over the frame, corners included, because the outer distortion terms
    are only measurable where the lens bends lines the most.
    """
    rng = np.random.default_rng(seed)
    cols, rows = scene.board[0] + 1, scene.board[1] + 1
    sq = scene.square_mm
    outline = np.array([[-2, -2, 0], [cols, -2, 0], [cols, rows, 0], [-2, rows, 0]], np.float64) * sq
    w, h = scene.size
    poses: list[tuple[np.ndarray, np.ndarray]] = []
    while len(poses) < n:
        rvec = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), rng.uniform(-0.3, 0.3)])
        z = rng.uniform(330, 480)
        # Aim the board centre at a random point of the frame.
        u, v = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        centre = np.array(
            [(u - scene.center[0]) / scene.focal_px * z, (v - scene.center[1]) / scene.focal_px * z, z]
        )
        rot, _ = cv2.Rodrigues(rvec)
        tvec = centre - rot @ np.array([(cols - 2) / 2 * sq, (rows - 2) / 2 * sq, 0.0])
        img_pts, _ = cv2.projectPoints(outline, rvec, tvec, scene.camera_matrix, np.array(scene.distortion))
        p = img_pts.reshape(-1, 2)
        if (
            np.all(p[:, 0] > 2)
            and np.all(p[:, 0] < w - 3)
            and np.all(p[:, 1] > 2)
            and np.all(p[:, 1] < h - 3)
        ):
            poses.append((rvec, tvec))
    return poses


class MemoryLights:
    """An in-process LightController that just remembers levels (for tests without the bridge)."""

    def __init__(self) -> None:
        self.levels: dict[str, int] = {"key": 0, "fill": 0, "backdrop": 0}
        self.calls = 0

    def set_levels(self, levels: Mapping[str, int]) -> None:
        """Store the levels, validating the 0..1000 range as the firmware would."""
        for role, level in levels.items():
            if not 0 <= level <= 1000:
                raise ValueError(f"level {level} for {role} outside 0..1000")
            self.levels[role] = int(level)
        self.calls += 1

    def read_levels(self) -> dict[str, int]:
        """The stored levels."""
        return dict(self.levels)


@dataclass(frozen=True)
class LightResponse:
    """How much linear light (0..1 of full scale) each light adds to each region at full power."""

    key_on_key_side: float = 0.42
    key_on_fill_side: float = 0.06  # the key light wraps a little around the face
    fill_on_fill_side: float = 0.30
    fill_on_key_side: float = 0.05
    backdrop_on_backdrop: float = 0.55
    key_on_backdrop: float = 0.05  # spill
    ambient: float = 0.02  # room light on everything, independent of the lights


class RelitCamera:
    """A fixed-exposure camera looking at a scene lit by the key, fill and backdrop lights.

    Each frame is albedo × illumination, where the illumination of every pixel is a known linear
    function of the current light levels (see LightResponse), then shot/read noise, clipping, sRGB
    encoding and 8-bit quantisation, as a real camera with locked exposure would deliver.

    Args:
        albedo: linear reflectance image (H, W, 3), 0..1, BGR order.
        person: person matte (H, W), 1 on the guest.
        key_weight: (H, W), 1 where only the key reaches the guest, 0 where only the fill does.
        levels: returns the current levels by role (the sim's outputs or a MemoryLights).
    """

    def __init__(
        self,
        albedo: np.ndarray,
        person: np.ndarray,
        key_weight: np.ndarray,
        levels: Callable[[], Mapping[str, int]],
        response: LightResponse | None = None,
        noise: float = 0.003,
        seed: int = 0,
    ) -> None:
        self.albedo = albedo.astype(np.float32)
        self.person = person.astype(np.float32)[..., None]
        self.key_weight = key_weight.astype(np.float32)[..., None]
        self.levels = levels
        self.response = response or LightResponse()
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.frames = 0

    def illumination(self, levels: Mapping[str, int]) -> np.ndarray:
        """Linear illumination (H, W, 1) for the given levels."""
        r = self.response
        k, f, b = (levels.get(role, 0) / 1000.0 for role in ("key", "fill", "backdrop"))
        wk = self.key_weight
        on_person = (
            r.ambient
            + k * (r.key_on_key_side * wk + r.key_on_fill_side * (1 - wk))
            + f * (r.fill_on_fill_side * (1 - wk) + r.fill_on_key_side * wk)
        )
        on_backdrop = r.ambient + b * r.backdrop_on_backdrop + k * r.key_on_backdrop
        return on_person * self.person + on_backdrop * (1 - self.person)

    def grab(self) -> np.ndarray:
        """One BGR uint8 frame under the lights as they are now."""
        self.frames += 1
        img = self.albedo * self.illumination(self.levels()) * 2.0
        sigma = np.sqrt(np.clip(img, 0, None) * self.noise * 0.5 + self.noise**2)
        img = img + self.rng.standard_normal(img.shape, dtype=np.float32) * sigma
        return np.clip(np.round(linear_to_srgb(np.clip(img, 0, 1)) * 255), 0, 255).astype(np.uint8)


def studio_scene(
    size: tuple[int, int] = (320, 240),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, tuple[int, int, int, int]]]:
    """A simple booth: grey backdrop, a skin-toned face ellipse over a dark jacket, key from the left.

    Returns (albedo, person matte, key weight, regions) with regions 'face' and 'backdrop' as
    (x, y, w, h) boxes for a RegionMeter.
    """
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy, rx, ry = w * 0.5, h * 0.42, w * 0.12, h * 0.22
    face = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    body = (yy > cy + ry * 0.8) & (np.abs(xx - cx) < w * 0.28)
    person = (face | body).astype(np.float32)
    albedo = np.empty((h, w, 3), np.float32)
    albedo[:] = (0.30, 0.30, 0.30)  # mid-grey paper backdrop (BGR)
    albedo[body] = (0.06, 0.05, 0.05)  # dark jacket
    albedo[face] = (0.28, 0.36, 0.52)  # light-medium skin, BGR linear reflectance
    # Key from the image's left: a soft terminator across the face around its centre line.
    key_weight = 1.0 / (1.0 + np.exp((xx - cx) / (rx * 0.15)))
    regions = {
        "face": (int(cx - rx * 0.8), int(cy - ry * 0.5), int(rx * 1.6), int(ry * 1.0)),
        "backdrop": (int(w * 0.04), int(h * 0.05), int(w * 0.18), int(h * 0.4)),
    }
    return albedo, person, key_weight.astype(np.float32), regions
