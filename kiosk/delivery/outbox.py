"""A durable outbox over the session store: queued files of one kind, a sender thread, retry with backoff.

Subclasses (mail, hand-off) implement :meth:`Outbox.attempt`, returning ``"sent"``, ``"failed"``
(permanent: drop it) or a short reason for a transient failure (retry after `retry_initial_s`, doubling
up to `retry_max_s`). The queue is the store itself (files of kind `kind`, written atomically), so it
survives a crash and retention's hard cap still bounds how long guest data waits. The outcome is recorded
in the session's meta under the outbox's kind (``"sent"`` / ``"failed"``), never with personal data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kiosk.session.journal import SessionNotFound
from kiosk.session.store import SessionStore, StoredFile

log = logging.getLogger(__name__)


class Outbox:
    """Base of the durable outboxes."""

    kind = ""

    def __init__(
        self,
        store: SessionStore,
        retry_initial_s: float,
        retry_max_s: float,
        *,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the outbox (the sender starts with start()).

        Args:
            store: the session store holding the queue.
            retry_initial_s: first retry delay, s (then doubling).
            retry_max_s: longest retry delay, s.
            mono: monotonic seconds for the retry schedule.
        """
        self.store = store
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.mono = mono
        self._retry: dict[tuple[str, str], tuple[int, float]] = {}  # (session, name) → (attempts, next at)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()

    def attempt(self, f: StoredFile, data: bytes) -> str:
        """Send one queued item: 'sent', 'failed' (permanent) or a transient reason."""
        raise NotImplementedError

    def pending(self) -> list[StoredFile]:
        """Items waiting to be sent."""
        return self.store.files_of_kind(self.kind)

    def wake(self) -> None:
        """Ask the sender to try now (after queueing, or when the network came back)."""
        self._wake.set()

    def start(self) -> Outbox:
        """Start the sender thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}-sender", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the sender thread (seconds to wait for it)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_due()
            except Exception:  # a supervised loop: log it and keep the outbox alive
                log.exception("%s sender pass failed", self.kind)
            self._wake.wait(self._next_wait())
            self._wake.clear()

    def _next_wait(self) -> float:
        now = self.mono()
        with self._lock:
            waits = [max(0.0, at - now) for _, at in self._retry.values()]
        return min([*waits, 30.0])

    def send_due(self) -> int:
        """Try every item whose retry time has come; return how many were sent."""
        sent = 0
        with self._send_lock:
            pending = self.pending()
            with self._lock:  # forget retry state of items retention (or a wipe) removed meanwhile
                keys = {(f.session_id, f.name) for f in pending}
                for gone in [k for k in self._retry if k not in keys]:
                    del self._retry[gone]
            for f in pending:
                key = (f.session_id, f.name)
                with self._lock:
                    attempts, at = self._retry.get(key, (0, 0.0))
                if at > self.mono():
                    continue
                try:
                    data = f.path.read_bytes()
                except FileNotFoundError:
                    continue  # retention removed it meanwhile
                result = self.attempt(f, data)
                if result in ("sent", "failed"):
                    sent += result == "sent"
                    self._finish(f, result)
                    continue
                delay = min(self.retry_max_s, self.retry_initial_s * 2**attempts)
                with self._lock:
                    self._retry[key] = (attempts + 1, self.mono() + delay)
                log.info(
                    "%s of session %s not sent (%s); retry %d in %.1f s",
                    self.kind,
                    f.session_id,
                    result,
                    attempts + 1,
                    delay,
                )
        return sent

    def _finish(self, f: StoredFile, outcome: str) -> None:
        with self._lock:
            self._retry.pop((f.session_id, f.name), None)
        try:
            self.store.set_meta(f.session_id, self.kind, outcome)
            self.store.remove_file(f.session_id, self.kind, f.name)
        except SessionNotFound:
            return  # retention deleted the session meanwhile
        log.info("%s of session %s %s", self.kind, f.session_id, outcome)
