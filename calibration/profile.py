"""The calibration profile: one validated JSON file per booth holding colour, light and lens calibration.

`Profile.apply(bgr)` is what the studio pipeline runs on every capture: colour correction in linear RGB,
then lens undistortion. Sections are optional and independent: a booth may have colour and lights
calibrated and no lens profile. Each section remembers when it was made; `warnings()` tells the
operator when the profile belongs to another camera or has grown old.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from calibration.colour import ColorFit, apply_fit
from calibration.config import CalibrationConfig
from calibration.errors import ProfileError
from calibration.lens import undistort, undistort_maps
from models.store import atomic_write_bytes

log = logging.getLogger(__name__)

PROFILE_VERSION = 1
MAX_PROFILE_BYTES = 1 << 20

Coef = Annotated[float, Field(ge=-50.0, le=50.0, allow_inf_nan=False)]
Gain = Annotated[float, Field(gt=0.0, le=50.0, allow_inf_nan=False)]
Level = Annotated[int, Field(ge=0, le=1000)]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    calibrated_at: datetime = Field(description="When this section was measured (UTC).")

    @field_validator("calibrated_at", mode="after")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("needs a timezone (write it as UTC, e.g. 2026-01-01T12:00:00Z)")
        return v


class ColorSection(_Section):
    """White balance and colour correction, both on linear RGB."""

    model: Literal["linear", "root-polynomial"]
    wb: tuple[Gain, Gain, Gain] = Field(description="Per-channel gains (R, G, B), applied first.")
    ccm: tuple[tuple[Coef, ...], tuple[Coef, ...], tuple[Coef, ...]] = Field(
        description="Rows of the correction matrix: 3 terms each ('linear') or 6 ('root-polynomial')."
    )
    mean_delta_e2000: float = Field(ge=0, le=200, description="Mean ΔE2000 of the chart after correction.")
    max_delta_e2000: float = Field(ge=0, le=200, description="Largest patch ΔE2000 after correction.")

    @model_validator(mode="after")
    def _shape(self) -> ColorSection:
        want = 3 if self.model == "linear" else 6
        if any(len(row) != want for row in self.ccm):
            raise ValueError(f"a '{self.model}' matrix has {want} terms per row")
        return self

    def fit(self) -> ColorFit:
        """The numeric fit this section stores."""
        return ColorFit(wb=np.array(self.wb), ccm=np.array(self.ccm, dtype=np.float64), model=self.model)


class LightsSection(_Section):
    """Light levels the loop converged on, and what it measured there."""

    levels: dict[str, Level] = Field(description="Channel name -> level 0..1000.")
    exposure: float = Field(ge=0, le=1, description="Measured sRGB level of the key-lit side of the face.")
    key_fill_ratio: float = Field(ge=0, le=100, description="Measured key:fill luminance ratio.")
    backdrop_ratio: float = Field(ge=0, le=100, description="Measured backdrop / key-side luminance.")
    iterations: int = Field(ge=0, le=1000, description="Measure-and-adjust steps taken.")
    converged: bool = Field(description="Whether every target was met within tolerance.")


class LensSection(_Section):
    """Pinhole intrinsics and distortion for one capture size."""

    camera_matrix: tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
    distortion: tuple[float, float, float, float, float] = Field(description="k1, k2, p1, p2, k3.")
    image_size: tuple[Annotated[int, Field(ge=16, le=20000)], Annotated[int, Field(ge=16, le=20000)]]
    rms_px: float = Field(ge=0, le=100, description="RMS reprojection error of the fit, px.")

    @model_validator(mode="after")
    def _sane(self) -> LensSection:
        k = self.camera_matrix
        if not (
            k[0][0] > 0 and k[1][1] > 0 and k[2] == (0.0, 0.0, 1.0) and k[1][0] == 0.0 and k[0][1] == 0.0
        ):
            raise ValueError("camera_matrix must be [[fx,0,cx],[0,fy,cy],[0,0,1]] with fx, fy > 0")
        if not all(np.isfinite(self.distortion)) or max(abs(v) for v in self.distortion) > 100:
            raise ValueError("distortion coefficients must be finite and within ±100")
        return self


class Profile(BaseModel):
    """A booth's calibration: which camera, when, and the colour / lights / lens sections."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    version: Literal[1] = Field(1, description="File format version.")
    created_at: datetime = Field(description="When this profile was first written (UTC).")
    camera_id: str = Field(
        min_length=1, max_length=200, description="The camera the profile was measured with."
    )
    color: ColorSection | None = None
    lights: LightsSection | None = None
    lens: LensSection | None = None

    _maps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _skipped: set[tuple[int, int]] = PrivateAttr(default_factory=set)

    @field_validator("created_at", mode="after")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("needs a timezone (write it as UTC, e.g. 2026-01-01T12:00:00Z)")
        return v

    @classmethod
    def new(cls, camera_id: str) -> Profile:
        """An empty profile for a camera, stamped now."""
        return cls(created_at=utc_now(), camera_id=camera_id)

    def apply(self, bgr: np.ndarray) -> np.ndarray:
        """Colour-correct then undistort a BGR uint8 capture; returns a new image (input untouched)."""
        out = bgr
        if self.color is not None:
            out = apply_fit(out, self.color.fit())
        if self.lens is not None and self._lens_fits(out.shape[1], out.shape[0]):
            size = (out.shape[1], out.shape[0])
            with self._lock:
                maps = self._maps.get(size)
                if maps is None:
                    lens = self.lens
                    maps = undistort_maps(
                        np.array(lens.camera_matrix), np.array(lens.distortion), lens.image_size, size
                    )
                    self._maps[size] = maps
            out = undistort(out, maps)
        return out if out is not bgr else bgr.copy()

    def _lens_fits(self, w: int, h: int) -> bool:
        """Whether the lens fit can serve w×h frames: the same aspect ratio (a scaled sensor mode)."""
        assert self.lens is not None
        cw, ch = self.lens.image_size
        if abs(w / h - cw / ch) <= 0.01 * cw / ch:
            return True
        if (w, h) not in self._skipped:
            self._skipped.add((w, h))
            log.warning("lens profile is for %dx%d frames, not %dx%d: frames left as they are", cw, ch, w, h)
        return False

    def warnings(
        self, camera_id: str | None = None, max_age_days: float = 30.0, now: datetime | None = None
    ) -> list[str]:
        """Operator-facing warnings: a different camera, a section past its age, or nothing calibrated.

        Args:
            camera_id: the connected camera's id, when known; None skips the camera check.
            max_age_days: age past which a section should be redone, days.
            now: the time to judge ages at (default: now, UTC).
        """
        out: list[str] = []
        if camera_id is not None and camera_id != self.camera_id:
            out.append(
                f"calibration profile was made with camera '{self.camera_id}', but '{camera_id}' is "
                "connected: run `kiosk calibrate color` (and `lens`) again"
            )
        now = now or utc_now()
        limit = timedelta(days=max_age_days)
        for name, section in (("color", self.color), ("lights", self.lights), ("lens", self.lens)):
            if section is None:
                continue
            age = now - section.calibrated_at
            if age > limit:
                out.append(
                    f"{name} calibration is {age.days} days old (limit {max_age_days:g}): "
                    f"run `kiosk calibrate {name}`"
                )
        if self.color is None and self.lens is None:
            out.append(
                "calibration profile holds no colour or lens calibration: captures pass through unchanged"
            )
        return out

    def with_section(self, **sections: Any) -> Profile:
        """A copy with the given sections replaced (color=..., lights=..., lens=...)."""
        return self.model_copy(update=sections)


def _message(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{key}: {first['msg']}"


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and validate a profile file; raise ProfileError saying what is wrong and how to fix it."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ProfileError(f"{p}: {size} bytes is far too large for a calibration profile: recalibrate")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ProfileError(f"{p}: no calibration profile there (run `kiosk calibrate color` first)") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(f"{p}: cannot read the calibration profile: {err}") from err
    try:
        return Profile.model_validate_json(text)
    except ValidationError as err:
        raise ProfileError(
            f"{p}: invalid calibration profile: {_message(err)} (recalibrate or delete it)"
        ) from err


def save_profile(profile: Profile, path: str | os.PathLike[str]) -> Path:
    """Write a profile atomically (temp file in the same folder, fsync, rename); returns the path."""
    data = json.dumps(profile.model_dump(mode="json"), indent=2) + "\n"
    return atomic_write_bytes(path, data.encode("utf-8"), mode=0o644)


def update_profile(
    path: str | os.PathLike[str], camera_id: str, **sections: Any
) -> tuple[Profile, list[str]]:
    """Load the profile at path (or start one), replace the given sections, save; return it and notes.

    A profile made with another camera is not mixed with this one's measurements: it is replaced by a
    fresh profile, and the notes say so.
    """
    notes: list[str] = []
    p = Path(path)
    if p.exists():
        try:
            current = load_profile(p)
        except ProfileError as err:
            notes.append(f"replaced an unreadable profile ({err})")
            current = Profile.new(camera_id)
        if current.camera_id != camera_id:
            notes.append(f"profile was for camera '{current.camera_id}': started a new one for '{camera_id}'")
            current = Profile.new(camera_id)
    else:
        current = Profile.new(camera_id)
    updated = current.with_section(**sections)
    # Re-validate the assembled profile so a bad section can never reach the disk.
    updated = Profile.model_validate_json(json.dumps(updated.model_dump(mode="json")))
    save_profile(updated, p)
    return updated, notes


def active_profile(
    path: str | os.PathLike[str],
    *,
    enabled: bool = True,
    max_age_days: float = 30.0,
    camera_id: str | None = None,
) -> tuple[Profile | None, list[str]]:
    """The profile the pipeline should apply, plus operator warnings; (None, []) when there is none.

    A missing file means "not calibrated" (no error); a file that exists but is invalid raises
    ProfileError, because silently shooting uncalibrated would hide the problem.
    """
    if not enabled or not Path(path).exists():
        return None, []
    profile = load_profile(path)
    return profile, profile.warnings(camera_id=camera_id, max_age_days=max_age_days)


def profile_for_config(
    config: CalibrationConfig, data_dir: Path, camera_id: str | None = None
) -> tuple[Profile | None, list[str]]:
    """The profile a kiosk config points to (None when disabled or absent) and its operator warnings."""
    return active_profile(
        config.profile_path(data_dir),
        enabled=config.enabled,
        max_age_days=config.max_age_days,
        camera_id=camera_id,
    )
