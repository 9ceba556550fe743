"""The app's sessions in the durable journal: each guest step recorded in the SessionStore as it happens.

The touchscreen app (kiosk.app.controller) runs the state machine over a scratch folder per session; this
recorder listens to the same state machine and mirrors every step into the :class:`SessionStore`, so a
capture and its results are journaled (SQLite WAL, synchronous=FULL) and written atomically before the
screen that announces them is drawn, and retention applies to them like to every other guest file::

    recorder = SessionRecorder(store).attach(controller.flow)   # before the first session
    recorder.report_pending()                                  # after a crash: what was left undelivered

Mapping: language screen → created; framing → consented; review → capture written, captured; delivery →
results written, processed; cleanup after thanks → delivered (retention deletes the session's files),
any other cleanup → deleted. A full disk while journaling does not stop the guest (the capture is still in
memory and in the session folder): the step is retried at the next transition, and `degraded` says why
for the operator; once space is back the session is journaled in full.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kiosk.session.flow import Session, SessionFlow, State
from kiosk.session.journal import SessionNotFound, StorageFull
from kiosk.session.store import SessionRecord, SessionStore, Step

log = logging.getLogger(__name__)


class SessionRecorder:
    """Mirrors a SessionFlow's sessions into a SessionStore (see the module docstring)."""

    def __init__(self, store: SessionStore) -> None:
        """Record into store."""
        self.store = store
        self.degraded: str | None = None
        self.recorded = 0
        self._flow: SessionFlow | None = None
        self._open: dict[str, set[str]] = {}  # session id -> names of files already journaled
        self._step: dict[str, Step] = {}  # session id -> the step journaled last

    def attach(self, flow: SessionFlow) -> SessionRecorder:
        """Listen to flow's transitions; returns self."""
        self._flow = flow
        flow.listen(self._on_transition)
        return self

    # -- crash recovery ------------------------------------------------------------------------------
    def report_pending(self) -> list[SessionRecord]:
        """Sessions captured but not delivered (a crash or power loss): logged for the operator, returned.

        Their files stay in the store (the operator can export them with `kiosk share` before retention's
        `max_age_hours` removes them); their ids are not guest data.
        """
        pending = self.store.pending()
        for rec in pending:
            log.warning(
                "session %s was %s but not delivered before the kiosk stopped; its files are kept until"
                " retention removes them",
                rec.id,
                rec.step.value,
            )
        return pending

    # -- the listener ----------------------------------------------------------------------------------
    def _on_transition(self, old: State, new: State, reason: str) -> None:
        flow = self._flow
        sess = flow.session if flow is not None else None
        if sess is None:
            return
        try:
            self._record(sess, old, new, reason)
        except StorageFull as err:
            self.degraded = str(err)
            log.warning("journal: %s; will retry at the next step", err)
        except SessionNotFound:
            log.warning("journal: session %s vanished from the store (wiped?)", sess.id)
            self._open.pop(sess.id, None)

    def _record(self, sess: Session, old: State, new: State, reason: str) -> None:
        if new is State.CLEANUP:
            self._end(sess, delivered=reason == "completed" or old in (State.DELIVERY, State.THANKS))
            return
        if sess.id not in self._open:
            if self.store.journal.get(sess.id) is None:  # else adopt it (another part journaled it first)
                self.store.create(session_id=sess.id)
            self._open[sess.id] = set()
            self._step[sess.id] = Step.CREATED
        done = self._open[sess.id]
        if new in (State.FRAMING, State.REVIEW, State.STYLE, State.PROCESSING, State.DELIVERY, State.THANKS):
            self._reach(sess.id, Step.CONSENTED)
        captures = sorted(sess.folder.glob("capture-*.jpg"))
        if new in (State.REVIEW, State.STYLE, State.PROCESSING, State.DELIVERY, State.THANKS) and captures:
            self._write(sess, "capture", captures[-1], done)
            self._reach(sess.id, Step.CAPTURED)
        if new in (State.DELIVERY, State.THANKS) and sess.results:
            for label, path in sess.results.items():
                self._write(sess, "result", Path(path), done, f"{label}-{Path(path).name}")
            self._reach(sess.id, Step.PROCESSED)
        self.degraded = None

    def _reach(self, session_id: str, step: Step) -> None:
        if self._step[session_id].rank < step.rank:
            self.store.advance(session_id, step)
            self._step[session_id] = step

    def _write(self, sess: Session, kind: str, path: Path, done: set[str], name: str | None = None) -> None:
        name = name or path.name
        key = f"{kind}/{name}"
        if key in done:
            return
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        self.store.write_file(sess.id, kind, name, data)
        done.add(key)

    def _end(self, sess: Session, delivered: bool) -> None:
        self._step.pop(sess.id, None)
        if self._open.pop(sess.id, None) is None:
            return
        if delivered:
            self.store.advance(sess.id, Step.DELIVERED)  # retention: session-kind files go now
            self.recorded += 1
        else:
            self.store.delete(sess.id)


def attach_journal(controller: Any, store: SessionStore) -> SessionRecorder:
    """Record a KioskController's sessions in store; report sessions left undelivered by a crash."""
    recorder = SessionRecorder(store).attach(controller.flow)
    recorder.report_pending()
    return recorder
