"""The `[calibration]` section of kiosk.toml: where the profile lives and what the light loop aims for."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    # Same contract as kiosk.config.Strict (which this floor may not import): unknown keys are errors.
    model_config = ConfigDict(extra="forbid", frozen=True)


class LightChannels(_Strict):
    """Which bridge light channel (index 0..15) plays which role."""

    key: int = Field(
        0, ge=0, le=15, description="Bridge channel of the key light (the brighter side of the face)."
    )
    fill: int = Field(1, ge=0, le=15, description="Bridge channel of the fill light (the shadow side).")
    backdrop: int = Field(2, ge=0, le=15, description="Bridge channel lighting the backdrop.")

    @model_validator(mode="after")
    def _distinct(self) -> LightChannels:
        if len({self.key, self.fill, self.backdrop}) != 3:
            raise ValueError("key, fill and backdrop need three different channels")
        return self

    def as_dict(self) -> dict[str, int]:
        """Role name -> channel index."""
        return {"key": self.key, "fill": self.fill, "backdrop": self.backdrop}


class CalibrationConfig(_Strict):
    """Camera colour, lens and light calibration."""

    profile: Path | None = Field(
        None, description="Calibration profile file; default <data_dir>/calibration/profile.json."
    )
    enabled: bool = Field(True, description="Apply the calibration profile to every capture when one exists.")
    max_age_days: float = Field(
        30.0,
        ge=0.5,
        le=3650.0,
        description="A profile section older than this many days warns the operator to recalibrate.",
    )
    color_model: Literal["linear", "root-polynomial"] = Field(
        "linear", description="Colour correction: 3×3 matrix ('linear') or degree-2 root-polynomial."
    )
    skin_weight: float = Field(
        3.0, ge=1.0, le=20.0, description="Extra weight of the two skin patches in the colour fit, ≥ 1."
    )
    target_exposure: float = Field(
        0.50,
        ge=0.15,
        le=0.85,
        description="Target sRGB level (0..1) of the key-lit side of the face; about 0.5 suits most skin.",
    )
    key_fill_ratio: float = Field(
        2.0,
        ge=1.0,
        le=8.0,
        description="Target luminance ratio of the key-lit to the fill-lit side of the face (2 = one stop).",
    )
    backdrop_ratio: float = Field(
        0.8, ge=0.1, le=3.0, description="Target backdrop luminance relative to the key-lit side of the face."
    )
    tolerance: float = Field(
        0.04,
        ge=0.005,
        le=0.25,
        description="Relative error at which the light loop counts a target as met, 0..1.",
    )
    max_iterations: int = Field(
        12, ge=2, le=50, description="Most measure-and-adjust steps the light loop takes before giving up."
    )
    settle_ms: int = Field(
        200, ge=0, le=5000, description="Wait after changing the lights before metering a frame, ms."
    )
    light_max_ms: int = Field(
        600000,
        ge=1000,
        le=600000,
        description="Longest a calibrated light level stays on before the firmware returns it to safe, ms.",
    )
    channels: LightChannels = Field(default_factory=LightChannels, description="Bridge light channel roles.")

    def profile_path(self, data_dir: Path) -> Path:
        """The profile file this config points to."""
        return self.profile if self.profile is not None else data_dir / "calibration" / "profile.json"
