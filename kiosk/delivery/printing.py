"""Printing through CUPS (pycups): discovery, printer states, copy limits, tracked jobs, paper counter."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.delivery.layouts import Layout, render_pdf
from kiosk.delivery.printing_config import PrintingConfig
from kiosk.errors import InputError, KioskError
from models.store import atomic_write_bytes

log = logging.getLogger(__name__)


# --- errors --------------------------------------------------------------------------------------------


class PrintError(KioskError):
    """Printing failed (exit 1): the printer or CUPS did not do what was asked."""


class NoPrinter(InputError):
    """No printer to print on: none configured or found, or CUPS is not reachable (exit 2)."""


class CopyLimitReached(InputError):
    """The guest asked for more copies than the session allows."""


class PrinterNotReady(PrintError):
    """The printer cannot take a job now (offline, out of paper, jammed...); the attendant can fix it."""

    transient = True

    def __init__(self, message: str, status: PrinterStatus) -> None:
        super().__init__(message)
        self.status = status


class PrintJobFailed(PrintError):
    """A job ended canceled or aborted."""

    def __init__(self, message: str, outcome: JobOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


class PrintTimeout(PrintError):
    """A job did not finish within the deadline; it stays queued in CUPS."""

    transient = True

    def __init__(self, message: str, job: PrintJob, status: PrinterStatus | None) -> None:
        super().__init__(message)
        self.job = job
        self.status = status


# --- printer states -----------------------------------------------------------------------------------


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
    PrinterState.OUT_OF_PAPER: "out of paper: load paper, then run `kiosk print --paper-loaded`",
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


# --- paper counter and session limits -------------------------------------------------------------------


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


# --- jobs -----------------------------------------------------------------------------------------------


class JobState(Enum):
    """IPP job-state values (RFC 8011 §5.3.7)."""

    PENDING = 3
    HELD = 4
    PROCESSING = 5
    STOPPED = 6
    CANCELED = 7
    ABORTED = 8
    COMPLETED = 9

    @property
    def terminal(self) -> bool:
        """Whether the job has ended (one way or another)."""
        return self in (JobState.CANCELED, JobState.ABORTED, JobState.COMPLETED)


@dataclass(frozen=True)
class PrintJob:
    """A job handed to CUPS."""

    job_id: int
    printer: str
    layout: str
    copies: int
    dpi: int
    submitted_at: float  # time.monotonic()

    @property
    def sheets(self) -> int:
        """Sheets of media the job uses (one per copy: every layout fits one sheet)."""
        return self.copies


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended."""

    job: PrintJob
    state: JobState
    reasons: tuple[str, ...]
    elapsed_s: float
    paper: PaperLevel | None = None
    statuses: tuple[PrinterStatus, ...] = field(default=())  # every distinct printer status seen meanwhile


StatusCallback = Callable[[PrinterStatus], None]
_STATUS_ATTRS = [
    "printer-state",
    "printer-state-reasons",
    "printer-state-message",
    "printer-is-accepting-jobs",
]
_JOB_ATTRS = ["job-state", "job-state-reasons", "job-media-sheets-completed"]


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


class PrintService:
    """The kiosk's door to CUPS: one instance per kiosk, safe to call from the session's worker thread."""

    def __init__(
        self, config: PrintingConfig, data_dir: Path, on_status: StatusCallback | None = None
    ) -> None:
        self.config = config
        self.counter = PaperCounter(Path(data_dir) / "printing" / "paper.json", config.paper_capacity)
        self.on_status = on_status
        self._stop = threading.Event()

    # connection ------------------------------------------------------------------------------------
    def _connect(self) -> Any:
        try:
            import cups
        except ImportError as err:
            raise NoPrinter("pycups is not installed (pip install pycups; it needs libcups2-dev)") from err
        where = self.config.server or "the local CUPS server"
        try:
            if self.config.server:
                host, _, port = self.config.server.rpartition(":")
                if self.config.server.startswith("/") or not port.isdigit():
                    return cups.Connection(host=self.config.server)
                return cups.Connection(host=host, port=int(port))
            return cups.Connection()
        except RuntimeError as err:
            raise NoPrinter(f"cannot reach CUPS at {where}: is cupsd running? ({err})") from err

    @staticmethod
    def _ipp(action: str, err: Exception) -> PrintError:
        detail = err.args[1] if len(err.args) > 1 else str(err)
        return PrintError(f"CUPS refused to {action}: {detail}")

    # discovery and state ---------------------------------------------------------------------------
    def printers(self) -> list[PrinterStatus]:
        """Every CUPS queue with its state."""
        import cups

        conn = self._connect()
        try:
            found = conn.getPrinters()
        except cups.IPPError as err:
            raise self._ipp("list printers", err) from err
        return [
            classify(
                name,
                int(attrs.get("printer-state", 3)),
                _as_tuple(attrs.get("printer-state-reasons")),
                str(attrs.get("printer-state-message") or ""),
                bool(attrs.get("printer-is-accepting-jobs", True)),
            )
            for name, attrs in sorted(found.items())
        ]

    def resolve(self, name: str | None = None) -> str:
        """The queue to use: name, else the configured one, else the CUPS default, else the only queue."""
        import cups

        conn = self._connect()
        try:
            queues = sorted(conn.getPrinters())
            default = conn.getDefault()
        except cups.IPPError as err:
            raise self._ipp("list printers", err) from err
        wanted = name or self.config.printer
        if wanted:
            if wanted not in queues:
                listed = ", ".join(queues) or "none"
                raise NoPrinter(
                    f"no printer called {wanted!r} in CUPS (queues: {listed}); add it with lpadmin"
                )
            return wanted
        if default and default in queues:
            return str(default)
        if len(queues) == 1:
            return queues[0]
        if not queues:
            raise NoPrinter(
                "no printer is set up in CUPS: add one with lpadmin, or set delivery.printing.printer"
            )
        raise NoPrinter(
            f"several printers and no default ({', '.join(queues)}): set delivery.printing.printer"
        )

    def status(self, name: str | None = None) -> PrinterStatus:
        """One printer's current state."""
        import cups

        queue = self.resolve(name)
        conn = self._connect()
        try:
            attrs = conn.getPrinterAttributes(queue, requested_attributes=_STATUS_ATTRS)
        except cups.IPPError as err:
            raise self._ipp(f"report on {queue}", err) from err
        return classify(
            queue,
            int(attrs.get("printer-state", 3)),
            _as_tuple(attrs.get("printer-state-reasons")),
            str(attrs.get("printer-state-message") or ""),
            bool(attrs.get("printer-is-accepting-jobs", True)),
        )

    def dpi(self, name: str) -> int:
        """The printer's default resolution in dpi (config fallback when it reports none)."""
        import cups

        conn = self._connect()
        try:
            attrs = conn.getPrinterAttributes(name, requested_attributes=["printer-resolution-default"])
        except cups.IPPError as err:
            raise self._ipp(f"report on {name}", err) from err
        res = attrs.get("printer-resolution-default")
        if isinstance(res, tuple) and len(res) == 3:
            x, _, units = res
            dpi = round(x * 2.54) if units == 4 else int(x)  # units 4: dots per cm
            if 72 <= dpi <= 1200:
                return dpi
        return self.config.fallback_dpi

    # jobs ------------------------------------------------------------------------------------------
    def submit(
        self,
        bgr: np.ndarray,
        layout: Layout,
        copies: int = 1,
        *,
        printer: str | None = None,
        allowance: CopyAllowance | None = None,
    ) -> PrintJob:
        """Render the layout at the printer's resolution and send it; the PDF is streamed, never spooled here.

        Raises CopyLimitReached, PrinterNotReady (with the status), NoPrinter or PrintError.
        """
        import cups

        if allowance is not None:
            allowance.check(copies)
        elif copies < 1 or copies > self.config.copies_per_session:
            raise CopyLimitReached(f"copies must be 1..{self.config.copies_per_session} (got {copies})")
        status = self.status(printer)
        self._report(status)
        if not status.can_print:
            raise PrinterNotReady(f"printer {status.describe()}", status)
        paper = self.counter.level()
        if paper.remaining < copies:
            empty = PrinterStatus(
                status.name,
                PrinterState.OUT_OF_PAPER,
                status.reasons,
                ("paper-counter",),
                f"paper counter: {paper.remaining} sheets left, {copies} needed",
            )
            self._report(empty)
            raise PrinterNotReady(f"printer {empty.describe()}", empty)
        dpi = self.dpi(status.name)
        pdf = render_pdf(bgr, layout, dpi)
        # No guest name in CUPS's logs or job list: the title names only the layout.
        title = f"headshot-{layout.name}"
        options = {"media": layout.media, "copies": str(copies)}
        conn = self._connect()
        try:
            job_id = conn.createJob(status.name, title, options)
            conn.startDocument(status.name, job_id, title, "application/pdf", 1)
            for start in range(0, len(pdf), 1 << 16):
                chunk = pdf[start : start + (1 << 16)]
                conn.writeRequestData(chunk, len(chunk))
            conn.finishDocument(status.name)
        except cups.IPPError as err:
            raise self._ipp(f"take a job on {status.name}", err) from err
        if allowance is not None:
            allowance.take(copies)
        log.info(
            "print job %s sent to %s: layout %s, %d copies at %d dpi",
            job_id,
            status.name,
            layout.name,
            copies,
            dpi,
        )
        return PrintJob(int(job_id), status.name, layout.name, copies, dpi, time.monotonic())

    def wait(self, job: PrintJob, timeout_s: float | None = None) -> JobOutcome:
        """Poll the job until it ends or the deadline passes, reporting printer states on the way.

        A completed job is counted on the paper counter and (by default) purged from CUPS. Raises
        PrintJobFailed when it ends canceled or aborted, PrintTimeout at the deadline (the job stays queued).
        """
        import cups

        timeout = self.config.job_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        interval = self.config.poll_interval_ms / 1000.0
        seen: list[PrinterStatus] = []
        conn = self._connect()
        while True:
            try:
                attrs = conn.getJobAttributes(job.job_id, requested_attributes=_JOB_ATTRS)
            except cups.IPPError as err:
                raise self._ipp(f"report on job {job.job_id}", err) from err
            state = JobState(int(attrs.get("job-state", 3)))
            reasons = _as_tuple(attrs.get("job-state-reasons"))
            if state.terminal:
                break
            status = self.status(job.printer)
            if not seen or seen[-1] != status:
                seen.append(status)
                self._report(status)
            if time.monotonic() >= deadline:
                raise PrintTimeout(
                    f"job {job.job_id} on {job.printer} still {state.name.lower()} after {timeout:.0f} s"
                    f" ({status.describe()}); it stays queued",
                    job,
                    status,
                )
            if self._stop.wait(interval):
                raise PrintError(f"stopped while waiting for job {job.job_id}")
        elapsed = time.monotonic() - job.submitted_at
        paper = None
        if state is JobState.COMPLETED:
            paper = self.counter.consume(job.sheets)
            if paper.remaining <= self.config.low_paper_sheets:
                log.warning("paper low on %s: %d sheets left", job.printer, paper.remaining)
        if self.config.purge_finished_jobs:
            self._purge(conn, job.job_id)
        outcome = JobOutcome(job, state, reasons, elapsed, paper, tuple(seen))
        if state is not JobState.COMPLETED:
            last = self.status(job.printer)
            raise PrintJobFailed(
                f"job {job.job_id} on {job.printer} was {state.name.lower()} "
                f"({', '.join(reasons) or 'no reason'});"
                f" {last.describe()}",
                outcome,
            )
        return outcome

    def print(
        self,
        bgr: np.ndarray,
        layout: Layout,
        copies: int = 1,
        *,
        printer: str | None = None,
        allowance: CopyAllowance | None = None,
        timeout_s: float | None = None,
    ) -> JobOutcome:
        """Submit and wait for the end of the job."""
        return self.wait(self.submit(bgr, layout, copies, printer=printer, allowance=allowance), timeout_s)

    def cancel(self, job: PrintJob) -> None:
        """Cancel a job (and purge its files from CUPS)."""
        import cups

        conn = self._connect()
        try:
            conn.cancelJob(job.job_id, purge_job=True)
        except cups.IPPError as err:
            raise self._ipp(f"cancel job {job.job_id}", err) from err

    def stop(self) -> None:
        """Make any wait() in progress return promptly (kiosk shutdown)."""
        self._stop.set()

    def _purge(self, conn: Any, job_id: int) -> None:
        import cups

        try:
            conn.cancelJob(job_id, purge_job=True)
        except cups.IPPError as err:
            log.warning("could not purge finished job %s from CUPS: %s", job_id, err)

    def _report(self, status: PrinterStatus) -> None:
        if self.on_status is not None:
            self.on_status(status)


class PrinterMonitor:
    """Polls one printer in a thread and reports each change of state (operator screen, session).

    CUPS being unreachable is reported as OFFLINE with the reason in the message, so the attendant sees it.
    """

    def __init__(
        self,
        service: PrintService,
        callback: StatusCallback,
        interval_s: float = 2.0,
        printer: str | None = None,
    ) -> None:
        self.service = service
        self.callback = callback
        self.interval_s = interval_s
        self.printer = printer
        self.latest: PrinterStatus | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> PrinterStatus:
        """Read the state once; report it if it changed; return it."""
        try:
            status = self.service.status(self.printer)
        except (NoPrinter, PrintError) as err:
            status = PrinterStatus(
                self.printer or self.service.config.printer or "printer",
                PrinterState.OFFLINE,
                message=str(err),
            )
        if status != self.latest:
            self.latest = status
            self.callback(status)
        return status

    def start(self) -> PrinterMonitor:
        """Start polling in a daemon thread (the first poll happens at once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="printer-monitor", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop polling and wait for the thread, s."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while True:
            try:
                self.poll()
            except Exception:  # a supervised loop: one bad poll must not end the monitoring
                log.exception("printer monitor poll failed")
            if self._stop.wait(self.interval_s):
                return
