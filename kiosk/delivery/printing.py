"""Printing through CUPS (pycups): discovery, printer states, copy limits, tracked jobs, paper counter."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.delivery.layouts import Layout, render_pdf
from kiosk.delivery.paper import CopyAllowance, CopyLimitReached, PaperCounter, PaperLevel
from kiosk.delivery.ports import PrintJobState
from kiosk.delivery.printer_state import PrinterState, PrinterStatus, classify
from kiosk.delivery.printing_config import PrintingConfig
from kiosk.errors import InputError, KioskError
from kiosk.status import Level, PartStatus

log = logging.getLogger(__name__)


# --- errors --------------------------------------------------------------------------------------------


class PrintError(KioskError):
    """Printing failed (exit 1): the printer or CUPS did not do what was asked."""


class PrinterUnreachable(InputError):
    """No printer to print on: none configured or found, or CUPS is not reachable (exit 2)."""


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
            raise PrinterUnreachable("pycups is not installed (pip install pycups; it needs libcups2-dev)") from err
        where = self.config.server or "the local CUPS server"
        try:
            if self.config.server:
                host, _, port = self.config.server.rpartition(":")
                if self.config.server.startswith("/") or not port.isdigit():
                    return cups.Connection(host=self.config.server)
                return cups.Connection(host=host, port=int(port))
            return cups.Connection()
        except RuntimeError as err:
            raise PrinterUnreachable(f"cannot reach CUPS at {where}: is cupsd running? ({err})") from err

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
                raise PrinterUnreachable(
                    f"no printer called {wanted!r} in CUPS (queues: {listed}); add it with lpadmin"
                )
            return wanted
        if default and default in queues:
            return str(default)
        if len(queues) == 1:
            return queues[0]
        if not queues:
            raise PrinterUnreachable(
                "no printer is set up in CUPS: add one with lpadmin, or set delivery.printing.printer"
            )
        raise PrinterUnreachable(
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

        Raises CopyLimitReached, PrinterNotReady (with the status), PrinterUnreachable or PrintError.
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

    def wait(
        self, job: PrintJob, timeout_s: float | None = None, on_status: StatusCallback | None = None
    ) -> JobOutcome:
        """Poll the job until it ends or the deadline passes, reporting printer states on the way.

        Each distinct printer status goes to the service's on_status and to this call's `on_status` (the
        delivery screen's job state). A completed job is counted on the paper counter and (by default) purged
        from CUPS. Raises PrintJobFailed when it ends canceled or aborted, PrintTimeout at the deadline (the job
        stays queued).
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
                if on_status is not None:
                    on_status(status)
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
        except (PrinterUnreachable, PrintError) as err:
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


class PrinterPort:
    """The delivery screen's printer (the `kiosk.delivery.ports.Printer` interface) over a PrintService.

    print_file() returns as soon as CUPS has the job; a worker thread follows it to the end (paper counter,
    purge), so the UI thread never waits on the printer. Copies are limited per session: call new_session().
    """

    def __init__(self, service: PrintService, layout: str | None = None) -> None:
        from kiosk.delivery.layouts import get_layout

        self.service = service
        self.layout = get_layout(layout or service.config.default_layout)
        self.allowance = CopyAllowance(service.config.copies_per_session)
        # The last outcomes only (tests, the operator): a kiosk prints for days; a growing list would leak.
        self.outcomes: collections.deque[JobOutcome | BaseException] = collections.deque(maxlen=200)
        self._workers: list[threading.Thread] = []
        self._job_state = PrintJobState.NONE  # of the last job sent; set by its follower thread

    def new_session(self) -> None:
        """A new guest: the full copy allowance again, and no job of theirs yet."""
        self.allowance = CopyAllowance(self.service.config.copies_per_session)
        self._job_state = PrintJobState.NONE

    def available(self) -> bool:
        """Whether a print button should be shown now (printer reachable and ready, paper left)."""
        try:
            return self.service.status().can_print and self.service.counter.level().remaining > 0
        except (PrinterUnreachable, PrintError, InputError) as err:
            log.info("printer not available: %s", err)
            return False

    def print_file(self, path: Path, copies: int = 1) -> str:
        """Send the headshot at path; return the guest's status text (raises PrintError or InputError)."""
        from kiosk.pipeline.imageio import load_image

        try:
            job = self.service.submit(load_image(path).bgr, self.layout, copies, allowance=self.allowance)
        except PrinterNotReady:
            self._job_state = PrintJobState.ATTENTION
            raise
        self._job_state = PrintJobState.PRINTING
        self._follow(job)
        return PrinterState.PRINTING.guest_text

    def job_state(self) -> PrintJobState:
        """Where the last job is: printing, done, or waiting for the attendant (the photo stays in the queue)."""
        return self._job_state

    def paper_loaded(self) -> str:
        """Restart the paper count at the configured capacity (the operator loaded a full pack)."""
        level = self.service.counter.reload()
        log.info("paper count restarted by the operator: %d sheets", level.remaining)
        return f"paper count restarted: {level.remaining} sheets"

    def test_print(self) -> str:
        """Print a test card (grey ramp, colour patches) on the default layout; wait; say how it went."""
        card = np.zeros((500, 400, 3), np.uint8)
        card[:] = np.linspace(0, 255, 400, dtype=np.uint8)[None, :, None]
        for i, bgr in enumerate(((0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255))):
            card[350:450, 20 + i * 95 : 100 + i * 95] = bgr
        try:
            outcome = self.service.print(card, self.layout, 1)
        except (PrinterUnreachable, PrintError, InputError) as err:
            return f"test print failed: {err}"
        return f"test print done on {outcome.job.printer} in {outcome.elapsed_s:.1f} s"

    def status(self) -> PartStatus:
        """The printer for the operator: its state and paper, the fix in words when it cannot print."""
        try:
            printer = self.service.status()
        except (PrinterUnreachable, PrintError) as err:
            return PartStatus(str(err), Level.FAIL, "check the printer's power and cable, and the CUPS queue")
        state = printer.describe()
        try:
            level = self.service.counter.level()
        except InputError as err:
            return PartStatus(f"{state}; {err}", Level.FAIL, "restart the paper count (operator menu)")
        line = f"{state}; paper {level.remaining}/{level.capacity}"
        if not printer.can_print:
            return PartStatus(line, Level.FAIL, printer.state.operator_text.replace("QUEUE", printer.name))
        if level.remaining == 0:
            return PartStatus(line, Level.FAIL, "load paper, then restart the paper count (operator menu)")
        if level.remaining <= self.service.config.low_paper_sheets:
            return PartStatus(line, Level.WARN, "paper is low: have the next pack ready")
        return PartStatus(line)

    def paper_left(self) -> int | None:
        """Sheets left by the kiosk's count."""
        try:
            return self.service.counter.level().remaining
        except InputError:
            return None

    def join(self, timeout_s: float) -> bool:
        """Wait for the jobs being followed (shutdown, tests); True when all ended, s."""
        deadline = time.monotonic() + timeout_s
        for worker in list(self._workers):
            worker.join(max(0.0, deadline - time.monotonic()))
        self._workers = [w for w in self._workers if w.is_alive()]
        return not self._workers

    def _follow(self, job: PrintJob) -> None:
        def seen(status: PrinterStatus) -> None:
            # A fault mid-job (out of paper, jam): the guest hears it now; cleared, the job carries on.
            self._job_state = PrintJobState.PRINTING if status.can_print else PrintJobState.ATTENTION

        def run() -> None:
            try:
                self.outcomes.append(self.service.wait(job, on_status=seen))
                self._job_state = PrintJobState.DONE
            except (PrintError, PrinterUnreachable) as err:
                log.warning("print job %s did not complete: %s", job.job_id, err)
                self.outcomes.append(err)
                self._job_state = PrintJobState.ATTENTION

        worker = threading.Thread(target=run, name=f"print-job-{job.job_id}", daemon=True)
        self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        worker.start()
