"""The [generation] section of kiosk.toml."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from kiosk.config_base import ConfigSection
from models.runtime.base import OrtConfig, RuntimeConfig


class GenerationConfig(ConfigSection):
    """Generative headshots: model pack, runtime, defaults and the worker's watchdog."""

    enabled: bool = Field(True, description="Offer generative headshots when a model pack is installed.")
    pack_dir: Path | None = Field(
        None,
        description="Model pack folder (default: <data_dir>/models/packs/default, see `kiosk models pull`).",
    )
    style: str = Field("corporate", min_length=1, max_length=48, description="Pack style preset used by default.")
    steps: int | None = Field(None, ge=1, le=100, description="Denoising schedule length (default: the pack's).")
    strength: float | None = Field(None, gt=0.0, le=1.0, description="img2img strength 0..1 (default: the pack's).")
    seed: int | None = Field(
        None, ge=0, le=2**63 - 1, description="Fixed seed for every job (default: a new random seed per job)."
    )
    runtime: RuntimeConfig = Field(default_factory=OrtConfig, description="Graph runtime ('ort' or 'tensorrt').")
    start_timeout_s: float = Field(
        180.0, ge=1.0, le=3600.0, description="Time allowed for the worker to load and warm up the pack, s."
    )
    hang_timeout_s: float = Field(
        30.0,
        ge=0.5,
        le=600.0,
        description="A job with no progress for this long is hung: the worker restarts, s.",
    )
    job_timeout_s: float = Field(120.0, ge=1.0, le=3600.0, description="Longest a whole job may take, s.")
    max_restarts: int = Field(
        3, ge=0, le=100, description="Restarts allowed within restart_window_s before generation is disabled."
    )
    restart_window_s: float = Field(600.0, ge=1.0, le=86400.0, description="Window of the crash-loop limit, s.")

    def resolved_pack_dir(self, models_dir: Path) -> Path:
        """The pack folder: pack_dir, or the default location under the models folder."""
        return self.pack_dir or models_dir / "packs" / "default"
