"""A private, real CUPS scheduler for the printing tests: kiosk.delivery.cups_local plus "fault" queues.

cupsd, its config, spool, socket and the cups-pdf queues come from the production module
(`kiosk.delivery.cups_local.LocalCups`, which `kiosk demo` uses too). This harness adds:
- "fault" queues: a ten-line backend that reports a printer-state-reason the way a real driver does
  (`STATE: +media-empty-error` on stderr) and then holds the job, like a printer waiting for its attendant.
  It stands in for the physical printer faults that cups-pdf cannot produce.
- the poppler tools the tests use to check the PDFs, in `unavailable_reason`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import pytest

from kiosk.delivery.cups_local import CUPS_BIN, PPD, TOOLS, LocalCups
from kiosk.delivery.cups_local import unavailable_reason as _cups_unavailable

__all__ = ["CUPS_BIN", "FAULT_BACKEND", "PPD", "CupsServer", "running_cups", "unavailable_reason"]

FAULT_BACKEND = """#!/bin/sh
# Test printer for the kiosk's tests: reports the fault named by its device URI, then holds the job.
if [ $# -eq 0 ]; then
  echo 'direct hkfault "Unknown" "Headshot Kiosk test fault printer"'
  exit 0
fi
reason="${DEVICE_URI#hkfault:/}"
echo "STATE: +$reason" >&2
echo "INFO: test printer reports $reason" >&2
exec sleep 120
"""


def unavailable_reason() -> str | None:
    """Why the printing tests cannot run here (CI runs as root with everything installed), or None."""
    why = _cups_unavailable((*TOOLS, "pdfinfo", "pdfimages", "pdftoppm"))
    if why and why.startswith("not root"):
        return "the cups-pdf backend only runs as root under cupsd (CI runs as root)"
    return why


class CupsServer(LocalCups):
    """One private cupsd with the fault backend installed; use start() / stop() (a pytest fixture does)."""

    def __init__(self) -> None:
        super().__init__(backends={"hkfault": FAULT_BACKEND}, log_level="debug")

    def add_fault_queue(self, name: str, reason: str) -> str:
        """A queue whose printer reports `reason` (e.g. media-empty-error) as soon as it gets a job."""
        queue = f"{self.tag}{name}"
        self.lp("lpadmin", "-p", queue, "-E", "-v", f"hkfault:/{reason}", "-P", str(PPD))
        return queue


@contextmanager
def running_cups(pdf_queues: Iterable[str], faults: Mapping[str, str] | None = None) -> Iterator[CupsServer]:
    """A started CupsServer with these cups-pdf queues and fault queues (name -> printer-state-reason),
    stopped on exit; skips the test with the reason where CUPS cannot run here. For fixtures."""
    why = unavailable_reason()
    if why:
        pytest.skip(why)
    server = CupsServer()
    server.start()
    try:
        for name in pdf_queues:
            server.add_pdf_queue(name)
        for name, reason in (faults or {}).items():
            server.add_fault_queue(name, reason)
        yield server
    finally:
        server.stop()
