"""The processing thread: one long-lived thread that runs jobs and style previews through the processor."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.app.processor import Processor, ResultWriter
from kiosk.errors import NoUsableFace

log = logging.getLogger(__name__)


@dataclass
class Job:
    """A processing job and its live progress (read by the UI thread)."""

    session_id: str
    progress: float = 0.0
    stage: str = "queued"
    results: dict[str, Path] | None = None
    error: str | None = None
    unusable: str | None = None  # the capture had no usable face (reason): ask for another photo
    notice: str | None = None  # why an AI style was delivered as the studio result
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class PreviewJob:
    """Style previews being made for the style screen (read by the UI thread)."""

    images: dict[str, np.ndarray] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class ProcessingWorker:
    """One long-lived thread that runs jobs through the processor (the pipeline lives on this thread)."""

    def __init__(self, processor: Processor) -> None:
        """Start the thread."""
        self.processor = processor
        self._q: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="processing", daemon=True)
        self._thread.start()

    def submit(self, session_id: str, bgr: np.ndarray, style: str, formats: list[str], write: ResultWriter) -> Job:
        """Queue a job (its results go through `write`, the session store); returns at once."""
        job = Job(session_id)
        self._q.put((job, bgr, style, formats, write))
        return job

    def submit_preview(self, bgr: np.ndarray, styles: list[str]) -> PreviewJob | None:
        """Queue style previews (None when the processor cannot make them); cancel() them when done."""
        if not self.processor.makes_previews:
            return None
        job = PreviewJob()
        self._q.put((job, bgr, styles))
        return job

    def stop(self) -> None:
        """Finish the current job and stop."""
        self._q.put(None)
        self._thread.join(timeout=60)

    @property
    def alive(self) -> bool:
        """Whether its thread is running (the appliance's watchdog asks)."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            try:
                item = self._q.get(timeout=1.0)
            except queue.Empty:
                try:
                    self.processor.idle()
                except Exception:  # reason: the idle watchdog must not kill the processing thread
                    log.exception("processor idle check failed")
                continue
            if item is None:
                # MediaPipe graphs must be closed on the thread that made them (a close from the
                # garbage collector on another thread can deadlock at exit).
                self.processor.close()
                return
            if isinstance(item[0], PreviewJob):
                self._preview(*item)
                continue
            job, bgr, style, formats, write = item

            def progress(frac: float, stage: str, job: Job = job) -> None:
                job.progress = max(job.progress, min(1.0, frac))
                job.stage = stage

            try:
                job.results = self.processor.process(bgr, style, formats, write, progress)
                job.notice = self.processor.notice
            except NoUsableFace as err:
                log.info("capture has no usable face: %s", err.reason)
                job.unusable = err.reason
            except Exception as err:  # reason: supervised worker; the session routes the error to the failsafe
                log.exception("processing failed")
                job.error = f"{type(err).__name__}: {err}"
            finally:
                job.done.set()

    def _preview(self, job: PreviewJob, bgr: np.ndarray, styles: list[str]) -> None:
        try:
            if not job.cancel.is_set():
                self.processor.preview(bgr, styles, job.images.__setitem__, job.cancel.is_set)
        except Exception:  # reason: previews are a nicety; the style screen works without them
            log.warning("style previews failed", exc_info=True)
        finally:
            job.done.set()
