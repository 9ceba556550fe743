"""A durable outbox over the session store: queued files of one kind, a sender thread, retry with backoff.

Subclasses (mail, hand-off) implement :meth:`Outbox.attempt`, returning ``"sent"``, ``"failed"``
(this item can never be sent: drop it), :func:`needs_operator` with a reason (the target refuses the kiosk
itself: a webhook's 401/403, an unknown or changed SFTP host key, an SMTP server without STARTTLS, refused
credentials: retrying the same way cannot help, so the item is held, retried only every `retry_max_s`, and
the operator's status shows it until someone fixes the config or the server) or a short reason for a
transient failure (retry after `retry_initial_s`, doubling up to `retry_max_s`). The queue is the store
itself (files of kind `kind`, written atomically), so it survives a crash and retention's hard cap still
bounds how long guest data waits; an item retention (or a wipe) removes before it was sent is counted and
recorded as ``"expired unsent"``. Outcomes are recorded in the session's meta under the outbox's kind
(``"sent"``, ``"failed"``, ``"needs operator"``, ``"expired unsent"``), never with personal data; the
journal keeps a deleted session's row, with that meta, for `retention.keep_journal_days`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kiosk.session.journal import SessionNotFound
from kiosk.session.store import SessionStore, StoredFile
from kiosk.status import Level, PartStatus

log = logging.getLogger(__name__)
OPERATOR_PREFIX = "needs operator: "


def needs_operator(reason: str) -> str:
    """The attempt result for a refusal only the operator can fix (held, shown on the operator's status)."""
    return OPERATOR_PREFIX + reason


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
        self._held: dict[tuple[str, str], str] = {}  # (session, name) → why the operator is needed
        self._seen: set[tuple[str, str]] = set()  # items queued or found, to notice those that vanish unsent
        self.counts = {"sent": 0, "failed": 0, "expired": 0}
        self.last_error: str | None = None  # the latest transient reason (no personal data)

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

    def retry_now(self) -> int:
        """The operator fixed the target: try every queued item at once, held ones included; return how many."""
        with self._lock:
            self._retry = {k: (attempts, 0.0) for k, (attempts, _at) in self._retry.items()}
            self._held.clear()
        self.wake()
        return len(self.pending())

    def fix_hint(self) -> str:
        """What the operator should do about items that need them (subclasses name their section)."""
        return f"check the {self.kind} target's settings, then tap Retry sending in this menu"

    def status(self) -> PartStatus:
        """Queue length, items needing the operator, expired-unsent ones: one line for the operator's menu."""
        with self._lock:
            held = list(self._held.values())
            counts = dict(self.counts)
        queued = len(self.pending())
        line = f"{queued} queued, {counts['sent']} sent"
        if held:
            line += f", {len(held)} need operator ({held[-1]})"
        if counts["expired"]:
            line += f", {counts['expired']} expired unsent"
        if counts["failed"]:
            line += f", {counts['failed']} refused"
        if held:
            return PartStatus(line, Level.FAIL, self.fix_hint())
        if counts["expired"]:
            return PartStatus(line, Level.WARN, f"{self.kind} items waited longer than retention.max_age_hours: "
                              "check the target with `kiosk doctor`")
        if queued and self.last_error:
            return PartStatus(f"{line}; last try: {self.last_error}", Level.WARN,
                              "it retries by itself; `kiosk doctor` tries the target now")
        return PartStatus(line)

    def _forget_vanished(self, pending: list[StoredFile]) -> None:
        """Items gone from the queue without being sent: retention's hard cap or a wipe took them."""
        keys = {(f.session_id, f.name) for f in pending}
        with self._lock:
            gone = [k for k in self._seen if k not in keys]
            for k in gone:
                self._seen.discard(k)
                self._retry.pop(k, None)
                self._held.pop(k, None)
            self._seen |= keys
            self.counts["expired"] += len(gone)
        for sid, _name in gone:
            log.warning("%s of session %s expired unsent (removed by retention or a wipe)", self.kind, sid)
            try:  # the deleted session's journal row keeps this for retention.keep_journal_days
                self.store.journal.set_meta(sid, self.kind, "expired unsent", self.store.clock())
            except SessionNotFound:
                continue

    def send_due(self) -> int:
        """Try every item whose retry time has come; return how many were sent."""
        sent = 0
        with self._send_lock:
            pending = self.pending()
            self._forget_vanished(pending)
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
                if result.startswith(OPERATOR_PREFIX):
                    self._hold(f, result.removeprefix(OPERATOR_PREFIX))
                    continue
                delay = min(self.retry_max_s, self.retry_initial_s * 2**attempts)
                with self._lock:
                    self._retry[key] = (attempts + 1, self.mono() + delay)
                    self.last_error = result
                log.info(
                    "%s of session %s not sent (%s); retry %d in %.1f s",
                    self.kind,
                    f.session_id,
                    result,
                    attempts + 1,
                    delay,
                )
        return sent

    def _hold(self, f: StoredFile, reason: str) -> None:
        key = (f.session_id, f.name)
        with self._lock:
            first = key not in self._held
            self._held[key] = reason
            attempts, _ = self._retry.get(key, (0, 0.0))
            self._retry[key] = (attempts + 1, self.mono() + self.retry_max_s)
        if first:
            log.error("%s of session %s needs the operator: %s", self.kind, f.session_id, reason)
            try:
                self.store.set_meta(f.session_id, self.kind, "needs operator")
            except SessionNotFound:
                return

    def _finish(self, f: StoredFile, outcome: str) -> None:
        with self._lock:
            key = (f.session_id, f.name)
            self._retry.pop(key, None)
            self._held.pop(key, None)
            self._seen.discard(key)
            self.counts["sent" if outcome == "sent" else "failed"] += 1
            if outcome == "sent":
                self.last_error = None
        try:
            self.store.set_meta(f.session_id, self.kind, outcome)
            self.store.remove_file(f.session_id, self.kind, f.name)
        except SessionNotFound:
            return  # retention deleted the session meanwhile
        log.info("%s of session %s %s", self.kind, f.session_id, outcome)
