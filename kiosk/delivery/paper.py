"""The paper counter (persisted atomically) and the per-session copy allowance."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import InputError
from models.store import atomic_write_bytes


class CopyLimitReached(InputError):
    """The guest asked for more copies than the session allows."""


@dataclass(frozen=True)
class PaperLevel:
    """How many sheets are left in the printer, by the kiosk's count."""

    capacity: int
    printed: int

    @property
    def remaining(self) -> int:
        """Sheets left (never below zero)."""
        return max(0, self.capacity - self.printed)


class PaperCounter:
    """Sheets printed since paper was last loaded, persisted atomically in a small JSON file."""

    def __init__(self, path: Path, capacity: int) -> None:
        self.path = Path(path)
        self.capacity = capacity
        self._lock = threading.Lock()

    def level(self) -> PaperLevel:
        """The current level (a full load when nothing was counted yet)."""
        with self._lock:
            return self._read()

    def consume(self, sheets: int) -> PaperLevel:
        """Count sheets as printed and persist the new level."""
        if sheets < 0:
            raise ValueError("sheets must be >= 0")
        with self._lock:
            now = self._read()
            level = PaperLevel(now.capacity, now.printed + sheets)
            self._write(level)
            return level

    def reload(self, capacity: int | None = None) -> PaperLevel:
        """Paper was loaded: count again from a full load of capacity sheets (default: the config's)."""
        cap = self.capacity if capacity is None else capacity
        if not 1 <= cap <= 100_000:
            raise InputError(f"paper capacity {cap} is outside 1..100000 sheets")
        with self._lock:
            level = PaperLevel(cap, 0)
            self._write(level)
            return level

    def _read(self) -> PaperLevel:
        fix = "delete it and run `kiosk print --paper-loaded` after loading paper"
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return PaperLevel(self.capacity, 0)
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{self.path}: cannot read the paper counter ({err}); {fix}") from err
        try:
            data = json.loads(raw)
            capacity, printed = data["capacity"], data["printed"]
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"{self.path}: the paper counter is damaged; {fix}") from err
        valid = all(isinstance(v, int) and not isinstance(v, bool) for v in (capacity, printed))
        if not valid or capacity < 1 or printed < 0:
            raise InputError(f"{self.path}: the paper counter holds impossible values; {fix}")
        return PaperLevel(capacity, printed)

    def _write(self, level: PaperLevel) -> None:
        data = {"version": 1, "capacity": level.capacity, "printed": level.printed}
        atomic_write_bytes(self.path, json.dumps(data).encode("utf-8"))


class CopyAllowance:
    """The copies one session may still print."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @property
    def remaining(self) -> int:
        """Copies this session may still print."""
        return max(0, self.limit - self.used)

    def check(self, copies: int) -> None:
        """Raise CopyLimitReached if copies do not fit in what is left."""
        if copies < 1:
            raise InputError(f"copies must be at least 1 (got {copies})")
        if copies > self.remaining:
            raise CopyLimitReached(
                f"{copies} copies asked, but this session may print {self.remaining} more "
                f"(limit {self.limit}; raise delivery.printing.copies_per_session to allow more)"
            )

    def take(self, copies: int) -> None:
        """Use copies from the allowance (after check)."""
        self.check(copies)
        self.used += copies
