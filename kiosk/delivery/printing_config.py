"""Config model of printing (section `[delivery.printing]`), free of CUPS and image libraries.

Kept free of `kiosk.config` too: that module imports this one (through `kiosk.delivery.config`).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from kiosk.config_base import ConfigSection

# The names of kiosk.delivery.layouts.LAYOUTS (a test keeps the two in step); listed here so that
# loading the config does not import OpenCV.
LAYOUT_NAMES: tuple[str, ...] = ("4x6", "badge", "wallet", "letter", "a4")


class PrintingConfig(ConfigSection):
    """Printing through CUPS (`[delivery.printing]`)."""

    server: str | None = Field(
        None, min_length=1, max_length=255,
        description="CUPS server, host:port or socket path; unset: the system's ($CUPS_SERVER, local cupsd).",
    )
    printer: str | None = Field(
        None, min_length=1, max_length=127,
        description="CUPS queue to print on; unset: the CUPS default queue, else the only queue there is.",
    )
    default_layout: str = Field(
        "4x6", description="Layout used when none is chosen: " + ", ".join(LAYOUT_NAMES) + "."
    )
    copies_per_session: int = Field(
        4, ge=1, le=50, description="Most copies one guest session may print, 1..50."
    )
    paper_capacity: int = Field(
        400, ge=1, le=100_000, description="Sheets in a full paper (or ribbon) load; every print counts down."
    )
    low_paper_sheets: int = Field(
        20, ge=0, le=10_000, description="Warn the operator when this many sheets or fewer are left."
    )
    job_timeout_s: float = Field(
        180.0, ge=1.0, le=3600.0, description="Give up tracking a job after this many seconds, s."
    )
    poll_interval_ms: int = Field(250, ge=20, le=5000, description="How often a job's state is polled, ms.")
    fallback_dpi: int = Field(
        300, ge=72, le=1200, description="Render resolution when the printer does not report one, dpi."
    )
    purge_finished_jobs: bool = Field(
        True, description="Purge finished jobs from CUPS, so no copy of a guest's print stays in its spool."
    )

    @field_validator("default_layout")
    @classmethod
    def _known_layout(cls, value: str) -> str:
        if value not in LAYOUT_NAMES:
            raise ValueError(f"unknown layout {value!r} (choose one of: {', '.join(LAYOUT_NAMES)})")
        return value
