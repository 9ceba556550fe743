"""The delivery screen's ports (`kiosk.delivery.ports`) built from the config over the real services.

`make_ports(cfg, store)` returns ``(downloads, printer)``:

- downloads: a started :class:`~kiosk.delivery.download.DownloadServer` over the session store when
  `[delivery.download] enabled` (the default); :class:`OfflineDownloads` when disabled; and, when the
  server cannot listen (address not on this machine, port taken), :class:`DownloadsUnavailable`, which
  offers no QR code and tells the operator why. The kiosk keeps running either way.
- printer: a :class:`SessionPrinter` (a :class:`~kiosk.delivery.printing.PrinterPort` over
  ``PrintService(cfg.delivery.printing, cfg.data_dir)``) when printing is configured: a queue or a CUPS
  server is named in `[delivery.printing]`, or the local CUPS has a queue it would use by default.
  Otherwise :class:`NoPrinter` (no print button). A configured printer that is offline or out of paper
  stays a SessionPrinter: ``available()`` turns false and ``status()`` says why, until the cause clears.

kiosk.app.assemble builds them once over the kiosk's session store and closes them with the other parts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kiosk.delivery.download import DownloadServer, LinkTerms
from kiosk.delivery.ports import Downloads, NoPrinter, OfflineDownloads, Printer
from kiosk.delivery.printing import PrinterPort, PrintError, PrinterUnreachable, PrintService
from kiosk.errors import InputError
from kiosk.session.store import SessionStore
from kiosk.status import Level, PartStatus

log = logging.getLogger(__name__)

__all__ = ["DownloadsUnavailable", "SessionPrinter", "StoreDownloads", "make_ports", "printing_configured"]


class DownloadsUnavailable(OfflineDownloads):
    """The download server is enabled but could not start: no QR code, and the operator sees why."""

    def __init__(self, reason: str) -> None:
        """Remember the reason (one line, no guest data)."""
        self.reason = reason

    def status(self) -> PartStatus:
        """The reason, for the operator menu."""
        return PartStatus(f"phone download off: {self.reason}", Level.FAIL,
                          "set delivery.download.bind to an address of this machine and a free port")


class StoreDownloads:
    """The DownloadServer as the Downloads port."""

    def __init__(self, server: DownloadServer) -> None:
        """Wrap a started server."""
        self.server = server

    def offer(self, session_id: str, files: dict[str, Path], lang: str = "en") -> str | None:
        """Publish the session's stored results; the URL for the QR code."""
        return self.server.offer(session_id, files, lang=lang)

    def revoke_all(self) -> int:
        """End every link now."""
        return self.server.revoke_all()

    def withdraw(self, session_id: str) -> None:
        """Stop offering them (session cleanup)."""
        self.server.withdraw(session_id)

    def status(self) -> PartStatus:
        """The server's state for the operator."""
        return self.server.status()

    def wifi(self) -> str | None:
        """The Wi-Fi join code's WIFI: URI, when the kiosk runs its own access point."""
        return self.server.wifi

    def terms(self) -> LinkTerms:
        """What every new link of this server allows."""
        return self.server.terms()

    def close(self) -> None:
        """Stop the server."""
        self.server.stop()


class SessionPrinter(PrinterPort):
    """A PrinterPort whose per-guest copy allowance starts afresh for each session.

    The delivery screen prints files from the session's own folder, so a file from another folder means
    another guest: the allowance is renewed then (the app may also call new_session() itself).
    """

    def __init__(self, service: PrintService, layout: str | None = None) -> None:
        """Wrap the service; no session yet."""
        super().__init__(service, layout)
        self._session_key: Path | None = None

    def print_file(self, path: Path, copies: int = 1) -> str:
        """Print for the session owning path (renewing the allowance for a new session)."""
        key = Path(path).resolve().parent
        if key != self._session_key:
            self.new_session()
            self._session_key = key
        return super().print_file(path, copies)

    def close(self) -> None:
        """Stop following jobs (kiosk shutdown); queued jobs stay in CUPS."""
        self.service.stop()
        self.join(2.0)


def printing_configured(cfg: Any) -> bool:
    """Whether the kiosk should offer printing: a queue or server named, or a usable local default."""
    pc = cfg.delivery.printing
    if pc.printer or pc.server:
        return True
    try:
        import cups  # noqa: F401  # reason: probe only; PrintService imports it itself
    except ImportError:
        return False
    try:
        PrintService(pc, cfg.data_dir).resolve()
    except (PrinterUnreachable, PrintError, InputError) as err:
        log.info("no printer: %s", err)
        return False
    return True


def make_ports(cfg: Any, store: SessionStore) -> tuple[Downloads, Printer]:
    """The delivery screen's (downloads, printer) for this config, over the kiosk's session store."""
    downloads: Downloads
    dl_cfg = cfg.delivery.download
    if not dl_cfg.enabled:
        downloads = OfflineDownloads()
    else:
        from kiosk.delivery.phone_page import bundled_languages
        from kiosk.i18n import Texts

        texts = Texts(list(dict.fromkeys([*cfg.ui.languages, *bundled_languages()])), cfg.ui.i18n_dir)
        try:
            downloads = StoreDownloads(DownloadServer(store, dl_cfg, texts=texts).start())
        except InputError as err:
            log.warning("phone download off: %s", err)
            downloads = DownloadsUnavailable(str(err))
    printer: Printer
    if printing_configured(cfg):
        printer = SessionPrinter(PrintService(cfg.delivery.printing, cfg.data_dir))
    else:
        printer = NoPrinter()
    return downloads, printer
