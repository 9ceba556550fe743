"""Wipe means wipe: every guest session, every download link, every queued e-mail and hand-off, now.

The operator's "Wipe all guest data now" and `kiosk wipe` call the same function. The store holds every
guest file (captures, results, thumbnails, prints, download links, outbox items), so emptying it empties
the outboxes too; a download server in this process also forgets its links at once, and one in another
process (`kiosk wipe` beside a running kiosk) answers 410 because every request checks the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.delivery.ports import Downloads
from kiosk.session.store import SessionStore


@dataclass(frozen=True)
class WipeReport:
    """What a wipe removed (counts only: no names)."""

    sessions: int
    files: int
    bytes: int
    links: int

    def line(self) -> str:
        """One line for the screen and the CLI."""
        return (f"wiped {self.sessions} sessions, {self.files} files ({self.bytes / 1e6:.1f} MB), "
                f"{self.links} download links revoked")


def wipe_everything(store: SessionStore, downloads: Downloads | None = None) -> WipeReport:
    """Delete all guest data now: the links first (no more downloads), then every session's files."""
    links = downloads.revoke_all() if downloads is not None else 0
    links = max(links, sum(1 for f in store.files_of_kind("download") if f.name == "link.json"))
    report = store.wipe_all()
    return WipeReport(report.sessions, report.files, report.bytes, links)
