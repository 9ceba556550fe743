"""Printer states: IPP printer-state and its reasons, mapped to what the session and the operator need."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class PrinterState(Enum):
    """What the session and the operator need to know about a printer, most urgent cause first."""

    READY = "ready"
    PRINTING = "printing"
    JAMMED = "jammed"
    OUT_OF_PAPER = "out-of-paper"
    OUT_OF_RIBBON = "out-of-ribbon"
    COVER_OPEN = "cover-open"
    OFFLINE = "offline"
    ERROR = "error"
    PAUSED = "paused"
    NOT_ACCEPTING = "not-accepting"

    @property
    def can_print(self) -> bool:
        """Whether a new job can be sent now."""
        return self in (PrinterState.READY, PrinterState.PRINTING)

    @property
    def operator_text(self) -> str:
        """What the attendant should do, one line."""
        return _OPERATOR_TEXT[self]

    @property
    def guest_text(self) -> str:
        """What the guest is told: never blame, always a next step."""
        if self.can_print:
            return "Printing your photos…"
        return "The printer needs a moment with our attendant: your photos are safe and will print."


_OPERATOR_TEXT = {
    PrinterState.READY: "ready",
    PrinterState.PRINTING: "printing",
    PrinterState.JAMMED: "paper jam: open the printer and clear the paper path",
    PrinterState.OUT_OF_PAPER: "out of paper: load paper, then tap Paper loaded in the operator menu",
    PrinterState.OUT_OF_RIBBON: "out of ribbon/ink: replace the ribbon or cartridge",
    PrinterState.COVER_OPEN: "a cover or door is open: close it",
    PrinterState.OFFLINE: "offline: check the printer's power and cable",
    PrinterState.ERROR: "printer error: see the printer's message and the CUPS error log",
    PrinterState.PAUSED: "the queue is paused: resume it with `cupsenable QUEUE`",
    PrinterState.NOT_ACCEPTING: "the queue refuses jobs: `cupsaccept QUEUE`",
}

# printer-state-reasons keywords (RFC 8011 §5.4.12, PWG 5100.9), without their -error/-warning/-report suffix.
_REASON_STATES: tuple[tuple[PrinterState, frozenset[str]], ...] = (
    (PrinterState.JAMMED, frozenset({"media-jam", "jam", "input-tray-feed-error", "output-area-full"})),
    (PrinterState.OUT_OF_PAPER, frozenset({"media-empty", "media-needed", "input-tray-missing"})),
    (
        PrinterState.OUT_OF_RIBBON,
        frozenset(
            {
                "marker-supply-empty",
                "marker-supply-missing",
                "toner-empty",
                "marker-ink-empty",
                "marker-waste-full",
            }
        ),
    ),
    (PrinterState.COVER_OPEN, frozenset({"door-open", "cover-open", "interlock-open"})),
    (PrinterState.OFFLINE, frozenset({"offline", "shutdown", "timed-out", "printer-unreachable"})),
)
_IGNORED_REASONS = frozenset({"none", "paused", "moving-to-paused", "connecting-to-device"})
_SUFFIXES = ("-error", "-warning", "-report")


def split_reason(reason: str) -> tuple[str, str]:
    """Split a printer-state-reasons value into (keyword, severity); a bare keyword is an error (RFC 8011)."""
    for suffix in _SUFFIXES:
        if reason.endswith(suffix):
            return reason[: -len(suffix)], suffix[1:]
    return reason, "error"


@dataclass(frozen=True)
class PrinterStatus:
    """One printer's state, as CUPS reports it and as the kiosk reads it."""

    name: str
    state: PrinterState
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    message: str = ""
    accepting: bool = True

    @property
    def can_print(self) -> bool:
        """Whether a new job can be sent now."""
        return self.state.can_print

    def describe(self) -> str:
        """One line for the operator: state, what to do, and the printer's own message."""
        text = f"{self.name}: {self.state.value}"
        if not self.state.can_print:
            text += f" ({self.state.operator_text.replace('QUEUE', self.name)})"
        if self.warnings:
            text += f"; warnings: {', '.join(self.warnings)}"
        if self.message:
            text += f"; printer says: {self.message}"
        return text


def classify(
    name: str, printer_state: int, reasons: Iterable[str], message: str = "", accepting: bool = True
) -> PrinterStatus:
    """Map IPP printer-state (3 idle, 4 processing, 5 stopped) and its reasons to a PrinterStatus."""
    reasons = tuple(r for r in reasons if r)
    found: set[PrinterState] = set()
    warnings: list[str] = []
    for reason in reasons:
        keyword, severity = split_reason(reason)
        if reason == "offline-report":  # CUPS's backends say "offline" this way
            found.add(PrinterState.OFFLINE)
            continue
        if keyword in _IGNORED_REASONS or severity == "report":
            continue
        mapped = next((state for state, words in _REASON_STATES if keyword in words), None)
        if severity == "warning":
            warnings.append(keyword)
        elif mapped is not None:
            found.add(mapped)
        elif reason.endswith("-error"):
            found.add(PrinterState.ERROR)
        else:
            warnings.append(keyword)  # a bare unknown keyword (e.g. cups-waiting-for-job-completed)
    for state, _ in _REASON_STATES:
        if state in found:
            return PrinterStatus(name, state, reasons, tuple(warnings), message, accepting)
    if PrinterState.ERROR in found:
        state = PrinterState.ERROR
    elif printer_state == 5 or "paused" in reasons:
        state = PrinterState.PAUSED
    elif not accepting:
        state = PrinterState.NOT_ACCEPTING
    elif printer_state == 4:
        state = PrinterState.PRINTING
    else:
        state = PrinterState.READY
    return PrinterStatus(name, state, reasons, tuple(warnings), message, accepting)
