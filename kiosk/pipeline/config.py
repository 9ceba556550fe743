"""The `[pipeline]` section: the studio pipeline's defaults (beside the pipeline, which reads nothing else)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from kiosk.config_base import ConfigSection


class PipelineConfig(ConfigSection):
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
