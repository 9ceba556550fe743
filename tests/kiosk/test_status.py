"""Every part reports a typed status: its line, a level and the fix in words."""

from __future__ import annotations

from pathlib import Path

from kiosk.delivery.config import DownloadConfig
from kiosk.delivery.download import DownloadServer
from kiosk.delivery.ports import NoPrinter, OfflineDownloads
from kiosk.lights import NoopLights
from kiosk.session.store import SessionStore
from kiosk.status import Level, PartStatus


def test_a_status_is_its_line_with_a_level_and_a_fix() -> None:
    s = PartStatus("out of paper", Level.FAIL, "load paper")
    assert s == "out of paper" and "paper" in s and s.line == "out of paper"
    assert s.level is Level.FAIL and s.fix == "load paper"
    assert PartStatus("ok").level is Level.OK and PartStatus("ok").fix is None


def test_parts_that_are_not_configured_are_off_not_failing() -> None:
    for status in (NoPrinter().status(), OfflineDownloads().status(), NoopLights().status()):
        assert isinstance(status, PartStatus) and status.level is Level.OFF and status.fix is None


def test_a_download_link_phones_cannot_reach_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    with SessionStore(tmp_path) as store:
        with DownloadServer(store, DownloadConfig(bind=["127.0.0.1"], port=0)) as server:
            status = server.status()
            assert status.level is Level.WARN and "loopback" in status
            assert status.fix is not None and "delivery.download.bind" in status.fix
        stopped = server.status()
        assert stopped.level is Level.FAIL
