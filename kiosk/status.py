"""What a part of the kiosk reports about itself: one line, a level and, when something is wrong, the fix.

Every part (camera, bridge lights, printer, download server, models, disk, processing) answers `status()`
with a PartStatus; the operator screen shows them together, coloured by level (Klipper's get_status()
aggregated by its web UI). A PartStatus is a `str` (its line), so logs and tests read it as text.
"""

from __future__ import annotations

import enum


class Level(enum.StrEnum):
    """How a part is doing."""

    OK = "ok"
    WARN = "warn"  # works, but the operator should look (low paper, loopback-only download)
    FAIL = "fail"  # does not work: guests miss something until it is fixed
    OFF = "off"  # not configured or switched off: nothing is wrong


class PartStatus(str):
    """One part's line for the operator, with its level and the fix in words (None when nothing to fix)."""

    level: Level
    fix: str | None

    def __new__(cls, line: str, level: Level = Level.OK, fix: str | None = None) -> PartStatus:
        """A status line."""
        obj = super().__new__(cls, line)
        obj.level = level
        obj.fix = fix
        return obj

    @property
    def line(self) -> str:
        """The plain line."""
        return str.__str__(self)
