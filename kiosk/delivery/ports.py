"""The delivery screen's two doors (phone download and print) behind small interfaces.

The real implementations are built by kiosk.delivery.adapters.make_ports (download server, CUPS printing);
when those are not configured, the offline ones here keep the session working (no QR, no print button).
"""

from __future__ import annotations

import enum
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kiosk.status import Level, PartStatus

if TYPE_CHECKING:
    from kiosk.delivery.download import LinkTerms

log = logging.getLogger(__name__)


class PrintJobState(enum.Enum):
    """Where this guest's print is, as the delivery screen tells it; the value is the i18n key suffix."""

    NONE = "none"  # nothing sent yet
    PRINTING = "printing"  # CUPS has it and the printer is working on it
    DONE = "done"  # the printer finished it: collect it at the tray
    ATTENTION = "attention"  # out of paper, jammed, offline...: the photo is safe, staff are needed


class Downloads(Protocol):
    """Offers a session's files to the guest's phone."""

    def offer(self, session_id: str, files: dict[str, Path], lang: str = "en") -> str | None:
        """Publish the session's stored results (references, no copies); the URL for the QR code, or None."""
        ...

    def withdraw(self, session_id: str) -> None:
        """Stop offering the session's files (session cleanup)."""
        ...

    def revoke_all(self) -> int:
        """End every link now (wipe); how many there were."""
        ...

    def status(self) -> PartStatus:
        """The part's state for the operator."""
        ...

    def wifi(self) -> str | None:
        """The `WIFI:` URI of the kiosk's own access point, shown before the link's QR code, or None."""
        ...

    def terms(self) -> LinkTerms | None:
        """What a new link allows (minutes, downloads, which phone), for the guest's screen; None: no links."""
        ...


class Printer(Protocol):
    """Prints a headshot."""

    def available(self) -> bool:
        """Whether a print button should be shown now."""
        ...

    def print_file(self, path: Path, copies: int = 1) -> str:
        """Queue a print; return a short status text for the guest. Raises on failure."""
        ...

    def test_print(self) -> str:
        """Operator test print; return a status text."""
        ...

    def status(self) -> PartStatus:
        """The part's state for the operator."""
        ...

    def paper_left(self) -> int | None:
        """Sheets left, when counted."""
        ...

    def job_state(self) -> PrintJobState:
        """The state of the last job sent (NONE before any)."""
        ...

    def paper_loaded(self) -> str:
        """The operator loaded a full pack: restart the paper count; a line saying so."""
        ...


class OfflineDownloads:
    """No download server: the guest keeps the printed copy only."""

    def offer(self, session_id: str, files: dict[str, Path], lang: str = "en") -> str | None:
        """No URL."""
        return None

    def withdraw(self, session_id: str) -> None:
        """Nothing to withdraw."""

    def revoke_all(self) -> int:
        """No links."""
        return 0

    def status(self) -> PartStatus:
        """Say so."""
        return PartStatus("phone download off (delivery.download.enabled = false)", Level.OFF)

    def wifi(self) -> str | None:
        """No link, so no Wi-Fi code either."""
        return None

    def terms(self) -> LinkTerms | None:
        """No links."""
        return None


class NoPrinter:
    """No printer: no print button."""

    def available(self) -> bool:
        """Never."""
        return False

    def print_file(self, path: Path, copies: int = 1) -> str:
        """Refuse."""
        raise RuntimeError("no printer configured")

    def test_print(self) -> str:
        """Say so."""
        return "no printer configured"

    def status(self) -> PartStatus:
        """Say so."""
        return PartStatus("no printer configured", Level.OFF)

    def paper_left(self) -> int | None:
        """Unknown."""
        return None

    def job_state(self) -> PrintJobState:
        """Never printed."""
        return PrintJobState.NONE

    def paper_loaded(self) -> str:
        """Nothing to count."""
        return "no printer configured"


def close_delivery(downloads: Downloads, printer: Printer) -> None:
    """Stop the download server and the print service (whatever has a close())."""
    for port in (downloads, printer):
        close = getattr(port, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # reason: shutdown goes on whatever one port does
                log.exception("closing a delivery port failed")
