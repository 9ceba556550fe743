"""Strict, bounded, self-documenting configuration: one TOML file validated by pydantic models."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from calibration.config import CalibrationConfig
from kiosk.camera.config import CameraConfig, OpenCVCameraConfig
from kiosk.delivery.config import DeliveryConfig
from kiosk.errors import ConfigError
from kiosk.generation.config import GenerationConfig
from kiosk.session.retention import RetentionConfig
from kiosk.ui.config import LightsConfig, UIConfig

CONFIG_ENV = "KIOSK_CONFIG"
DATA_ENV = "KIOSK_DATA_DIR"


def default_data_dir() -> Path:
    """The data folder: $KIOSK_DATA_DIR, else $XDG_DATA_HOME/headshot-kiosk, else ~/.local/share/..."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "headshot-kiosk"


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineConfig(Strict):
    """The studio pipeline's defaults."""

    default_style: str = Field("studio-grey", description="Background style used when none is chosen.")
    default_format: str = Field("portrait", description="Output format used when none is chosen.")
    brand_color: str = Field(
        "#1F4E79", pattern=r"^#[0-9A-Fa-f]{6}$", description="Backdrop colour of the 'brand' style, #RRGGBB."
    )
    custom_background: Path | None = Field(
        None, description="Image file used by the 'custom' style (cover-fitted behind the guest)."
    )
    retouch_strength: float = Field(0.5, ge=0.0, le=1.0, description="Skin retouch strength, 0..1.")
    jpeg_quality: int = Field(92, ge=60, le=100, description="JPEG quality of delivered files, 60..100.")
    max_input_megapixels: float = Field(
        150.0, ge=1.0, le=400.0, description="Inputs above this many megapixels are refused (decompression bombs)."
    )
    min_face_px: int = Field(
        56, ge=16, le=1000,
        description="Smallest usable face height in the input, px; below it the guest is asked to come closer.",
    )


class KioskConfig(Strict):
    """The whole kiosk configuration (kiosk.toml)."""

    data_dir: Path = Field(
        default_factory=default_data_dir, description="Folder holding sessions, journal, models and calibration."
    )
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig, description="Studio pipeline defaults.")
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="When guest data is deleted (at delivery; 24 h cap)."
    )
    delivery: DeliveryConfig = Field(
        default_factory=DeliveryConfig, description="Guest delivery: QR download, e-mail, hand-off."
    )
    camera: CameraConfig = Field(
        default_factory=OpenCVCameraConfig, description="Camera source (backend: opencv, gphoto2, virtual)."
    )
    ui: UIConfig = Field(
        default_factory=UIConfig, description="Touchscreen app: languages, timeouts, retakes, operator PIN."
    )
    lights: LightsConfig = Field(
        default_factory=LightsConfig, description="Lights and lens cue through the firmware bridge."
    )
    calibration: CalibrationConfig = Field(
        default_factory=CalibrationConfig, description="Camera colour, lens and light calibration; light targets."
    )
    generation: GenerationConfig = Field(
        default_factory=GenerationConfig, description="Generative headshots: model pack, runtime, worker watchdog."
    )

    @property
    def models_dir(self) -> Path:
        """Folder of installed model files."""
        return self.data_dir / "models"


def _format_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}' (check the spelling against `kiosk config sample`)"
    return f"{source}: {key}: {first['msg']}"


def parse_config(data: dict[str, Any], source: str = "config") -> KioskConfig:
    """Validate a parsed TOML mapping; raise ConfigError naming the first bad key."""
    try:
        return KioskConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err, source)) from err


def load_config(path: str | os.PathLike[str] | None = None) -> KioskConfig:
    """Load kiosk.toml from path, $KIOSK_CONFIG, or the data folder; defaults when none exists."""
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV))
    candidate = Path(path or os.environ.get(CONFIG_ENV) or default_data_dir() / "kiosk.toml")
    if not candidate.exists():
        if explicit:
            raise ConfigError(f"config file {candidate} does not exist (create one with `kiosk config sample`)")
        return KioskConfig()
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{candidate}: cannot read config: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{candidate}: not valid TOML: {err}") from err
    return parse_config(data, str(candidate))
