"""Printer truth: what the delivery screen says about this guest's print, and the "staff needed" cue.

The guest reads the job's real state (printing, done, or "the printer needs attention: your photo is safe");
a Print button the printer cannot serve now explains itself; and while the printer needs staff the attract
screen's corner says so and the bridge pulses the lens LED (kiosk.lights.Lights.attendant).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kiosk.delivery.ports import Printer, PrintJobState
from kiosk.lights import Lights
from kiosk.status import Level, PartStatus


def print_line(printer: Printer, tapped: bool, failed: bool) -> str | None:
    """The i18n key of the delivery screen's print line, or None for no line.

    Args:
        printer: the kiosk's printer port.
        tapped: this guest tapped Print.
        failed: sending the job failed (the printer refused it).
    """
    if tapped:
        state = PrintJobState.ATTENTION if failed else printer.job_state()
        if state is PrintJobState.NONE:
            state = PrintJobState.PRINTING
        return f"delivery.print_{state.value}"
    if printer.status().level is Level.OFF:
        return None  # no printer at this kiosk: no button, nothing to explain
    return None if printer.available() else "delivery.print_unavailable"


class Attention:
    """Whether staff are needed now (the printer cannot print), polled every `every_s` on the UI clock."""

    def __init__(
        self, printer: Printer, lights: Lights, clock: Callable[[], float] = time.monotonic,
        every_s: float = 3.0, resend_s: float = 60.0,
    ) -> None:
        """Follow `printer`, cue through `lights`.

        Args:
            printer: the printer port (its status() asks CUPS: a few ms).
            lights: the bridge's lights (its attendant cue).
            clock: monotonic seconds.
            every_s: how often the printer is asked, s.
            resend_s: the cue is sent again this often while it lasts (the firmware ends every cue), s.
        """
        self.printer = printer
        self.lights = lights
        self.clock = clock
        self.every_s = every_s
        self.resend_s = resend_s
        self.problem: PartStatus | None = None  # the printer's status while it needs staff
        self._polled = -1e9
        self._cue = False
        self._sent = -1e9

    def poll_now(self) -> None:
        """Ask the printer at the next tick (after the operator fixed something)."""
        self._polled = -1e9

    def tick(self, attract: bool) -> None:
        """Re-read the printer when due; the cue shows on the attract screen while a problem lasts."""
        now = self.clock()
        if now - self._polled >= self.every_s:
            self._polled = now
            status = self.printer.status()
            self.problem = status if status.level is Level.FAIL else None
        cue = attract and self.problem is not None
        if cue != self._cue or (cue and now - self._sent >= self.resend_s):
            # The cue goes off when the guest starts (the session's light table owns the lens LED then).
            if cue or self._cue:
                self.lights.attendant(cue)
            self._cue, self._sent = cue, now
