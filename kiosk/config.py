"""Strict, bounded, self-documenting configuration: one TOML file validated by pydantic models."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from calibration.config import CalibrationConfig
from kiosk.app.config import UIConfig, pin_problem
from kiosk.app.modes import Mode, StationConfig, apply_preset, mode_problems
from kiosk.camera.config import CameraConfig, OpenCVCameraConfig
from kiosk.config_base import ConfigSection
from kiosk.delivery.config import DeliveryConfig
from kiosk.errors import ConfigError
from kiosk.generation.config import GenerationConfig
from kiosk.lights import LightsConfig
from kiosk.pipeline.config import PipelineConfig
from kiosk.session.retention import RetentionConfig

CONFIG_ENV = "KIOSK_CONFIG"
DATA_ENV = "KIOSK_DATA_DIR"
MAX_CONFIG_BYTES = 1 << 20  # a kiosk.toml is a few KiB; a larger file is not one
MAX_NESTING = 16  # tables and arrays deep; ours go 3 deep


# Folders the store must never manage (it deletes whatever in its sessions/ no session owns): the root, the
# home folder, and the system's own trees (and anything inside those marked as whole trees).
SYSTEM_FOLDERS = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt", "/opt",
                  "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var")
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/sbin", "/sys", "/usr")


def data_dir_problem(path: Path) -> str | None:
    """Why a folder cannot be the kiosk's data folder (the root, $HOME, a system folder), or None."""
    p = Path(os.path.abspath(os.path.expanduser(str(path))))
    home = Path(os.path.abspath(os.path.expanduser("~")))
    if p == Path("/") or p == home or str(p) in SYSTEM_FOLDERS:
        return f"{p} is not a folder for guest data: give the kiosk its own, e.g. /var/lib/headshot-kiosk"
    if any(str(p).startswith(tree + "/") for tree in SYSTEM_TREES):
        return f"{p} is inside a system folder: give the kiosk its own, e.g. /var/lib/headshot-kiosk"
    return None


def default_data_dir() -> Path:
    """The data folder: $KIOSK_DATA_DIR, else $XDG_DATA_HOME/headshot-kiosk, else ~/.local/share/..."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "headshot-kiosk"


class KioskConfig(ConfigSection):
    """The whole kiosk configuration (kiosk.toml)."""

    data_dir: Path = Field(
        default_factory=default_data_dir, description="Folder holding sessions, journal, models and calibration."
    )
    mode: Mode = Field(
        default="walk-in",
        description="Station mode, a preset of steps, channels and texts that keys set here still override: "
        "walk-in (print and QR), hr-onboarding (id step, export through delivery.handoff, no QR or print "
        "unless configured), event (e-mail step with opt-in, through delivery.mail).",
    )
    station: StationConfig = Field(
        default_factory=StationConfig, description="The id and e-mail steps: badge scan, lead list, timeout."
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

    @model_validator(mode="before")
    @classmethod
    def _mode_preset(cls, data: Any) -> Any:
        return apply_preset(data)

    @model_validator(mode="after")
    def _mode_needs(self) -> KioskConfig:
        problems = mode_problems(self)
        if problems:
            raise ValueError(problems[0])
        return self

    @field_validator("data_dir")
    @classmethod
    def _own_folder(cls, v: Path) -> Path:
        problem = data_dir_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @property
    def models_dir(self) -> Path:
        """Folder of installed model files."""
        return self.data_dir / "models"


def _format_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}' (check the spelling against `kiosk config sample`)"
    msg = str(first["msg"]).removeprefix("Value error, ").replace("\n", " ")
    if not first["loc"]:
        return f"{source}: {msg}"  # a check across sections (the mode's needs) names its own keys
    return f"{source}: {key}: {msg}"


def _depth(value: Any, limit: int) -> int:
    """How deep tables and arrays nest in a parsed TOML value (stops counting past limit)."""
    if limit < 0:
        return 1
    if isinstance(value, dict):
        return 1 + max((_depth(v, limit - 1) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v, limit - 1) for v in value), default=0)
    return 0


def parse_config(data: dict[str, Any], source: str = "config") -> KioskConfig:
    """Validate a parsed TOML mapping; raise ConfigError naming the first bad key."""
    if _depth(data, MAX_NESTING) > MAX_NESTING:
        raise ConfigError(f"{source}: tables or arrays nest more than {MAX_NESTING} deep; no key of kiosk.toml does")
    try:
        return KioskConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err, source)) from err


def config_file(path: str | os.PathLike[str] | None = None) -> Path:
    """Where the config is read from: path, else $KIOSK_CONFIG, else kiosk.toml in the data folder."""
    return Path(path or os.environ.get(CONFIG_ENV) or default_data_dir() / "kiosk.toml")


def load_config(path: str | os.PathLike[str] | None = None) -> KioskConfig:
    """Load kiosk.toml from path, $KIOSK_CONFIG, or the data folder; defaults when none exists."""
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV))
    candidate = config_file(path)
    if not candidate.exists():
        if explicit:
            raise ConfigError(f"config file {candidate} does not exist (create one with `kiosk config sample`)")
        return KioskConfig()
    try:
        if candidate.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{candidate}: {candidate.stat().st_size} bytes is not a kiosk.toml (limit 1 MiB)")
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{candidate}: cannot read config: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{candidate}: not valid TOML: {err}") from err
    except RecursionError as err:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(f"{candidate}: tables or arrays nest too deep; no key of kiosk.toml does") from err
    return parse_config(data, str(candidate))


def require_operator_pin(cfg: KioskConfig) -> None:
    """Raise ConfigError (saying to run `kiosk config pin`) unless a real operator PIN is set."""
    problem = pin_problem(cfg.ui)
    if problem:
        raise ConfigError(problem)
