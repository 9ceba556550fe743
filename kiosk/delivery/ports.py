"""The delivery screen's two doors (phone download and print) behind small interfaces.

The real implementations live in `kiosk.delivery` (download server, CUPS printing); when those are not
available or not configured, the offline ones here keep the session working (no QR, no print button).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Downloads(Protocol):
    """Offers a session's files to the guest's phone."""

    def offer(self, session_id: str, files: dict[str, Path]) -> str | None:
        """Publish the files; return the URL for the QR code (None: download not available)."""
        ...

    def withdraw(self, session_id: str) -> None:
        """Stop offering the session's files (session cleanup)."""
        ...

    def status(self) -> str:
        """One line for the operator."""
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

    def status(self) -> str:
        """One line for the operator."""
        ...

    def paper_left(self) -> int | None:
        """Sheets left, when counted."""
        ...


class OfflineDownloads:
    """No download server: the guest keeps the printed copy only."""

    def offer(self, session_id: str, files: dict[str, Path]) -> str | None:
        """No URL."""
        return None

    def withdraw(self, session_id: str) -> None:
        """Nothing to withdraw."""

    def status(self) -> str:
        """Say so."""
        return "phone download off (no download server configured)"


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

    def status(self) -> str:
        """Say so."""
        return "no printer configured"

    def paper_left(self) -> int | None:
        """Unknown."""
        return None


def make_delivery(config: Any) -> tuple[Downloads, Printer]:
    """The delivery ports for this config: the kiosk.delivery services, or the offline ones."""
    try:
        from kiosk.delivery.adapters import make_ports
    except ImportError as err:  # a trimmed install without the delivery package
        log.info("kiosk.delivery not available (%s); download and print are off", err)
        return OfflineDownloads(), NoPrinter()
    return make_ports(config)


def close_delivery(downloads: Downloads, printer: Printer) -> None:
    """Stop the download server and the print service (whatever has a close())."""
    for port in (downloads, printer):
        close = getattr(port, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # reason: shutdown goes on whatever one port does
                log.exception("closing a delivery port failed")
