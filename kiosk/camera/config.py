"""Config models of the camera backends (section `[camera]`); the `backend` key selects one.

Kept free of cv2 and of `kiosk.config` (which imports this module), so loading the config stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from kiosk.config_base import ConfigSection


class OpenCVCameraConfig(ConfigSection):
    """A UVC/V4L2 camera through OpenCV (`backend = "opencv"`)."""

    backend: Literal["opencv"] = Field("opencv", description="Camera backend: opencv, gphoto2 or virtual.")
    device: str = Field("/dev/video0", description="V4L2 device path, or a camera index such as '0'.")
    width: int = Field(1280, ge=160, le=7680, description="Requested frame width, px.")
    height: int = Field(720, ge=120, le=4320, description="Requested frame height, px.")
    fps: float = Field(30.0, ge=1.0, le=120.0, description="Requested frame rate, frames/s.")
    fourcc: str = Field(
        "MJPG", pattern=r"^[A-Z0-9 ]{4}$", description="Pixel format asked of the driver (MJPG, YUYV)."
    )


class GPhoto2CameraConfig(ConfigSection):
    """A still camera (DSLR/mirrorless) through gphoto2 (`backend = "gphoto2"`); live view for the preview."""

    backend: Literal["gphoto2"] = Field("gphoto2", description="Camera backend: opencv, gphoto2 or virtual.")
    port: str | None = Field(
        None, description="gphoto2 port such as 'usb:001,004'; empty: the first camera found."
    )
    preview_fps: float = Field(
        15.0, ge=1.0, le=60.0, description="Live-view frames fetched per second, frames/s."
    )


class VirtualCameraConfig(ConfigSection):
    """Plays an image (with gentle motion) or a video file in a loop (`backend = "virtual"`)."""

    backend: Literal["virtual"] = Field("virtual", description="Camera backend: opencv, gphoto2 or virtual.")
    source: Path | None = Field(
        None, description="Image or video file to play; empty: the bundled demo portrait."
    )
    width: int = Field(960, ge=64, le=3840, description="Frame width produced, px.")
    height: int = Field(720, ge=64, le=3840, description="Frame height produced, px.")
    fps: float = Field(30.0, ge=1.0, le=120.0, description="Frames produced per second, frames/s.")
    motion: float = Field(
        1.0,
        ge=0.0,
        le=5.0,
        description="Amplitude of the gentle sway/zoom applied to a still image, % of the frame.",
    )
    mirror_source: bool = Field(
        False, description="Flip the source horizontally (to simulate a mirrored webcam)."
    )


def _backend_of(value: Any) -> str:
    """The backend key of a raw or parsed camera section; a section without one means opencv."""
    if isinstance(value, dict):
        return str(value.get("backend", "opencv"))
    return str(getattr(value, "backend", "opencv"))


CameraConfig = Annotated[
    Annotated[OpenCVCameraConfig, Tag("opencv")]
    | Annotated[GPhoto2CameraConfig, Tag("gphoto2")]
    | Annotated[VirtualCameraConfig, Tag("virtual")],
    Discriminator(_backend_of),
]
