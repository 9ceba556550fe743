"""Durable journal of guest sessions: one SQLite file in WAL mode with synchronous=FULL.

Every step of a session (created → consented → captured → processed → delivered → deleted) and every
guest file is recorded here *before* the guest is told about it; a commit returns only once the write is
on disk. The journal holds no personal data: session ids, step timestamps, file kinds/names, sizes and
checksums, and a small JSON `meta` mapping that callers must keep free of names, addresses and faces.

Files are tracked in two phases: a row in state ``writing`` (with the expected size and sha256) is
committed before the bytes touch the disk, and flipped to ``ok`` after the atomic rename. On start-up
:meth:`SessionStore.recover <kiosk.session.store.SessionStore.recover>` settles rows left in ``writing``.

Timestamps are wall-clock seconds (retention must survive restarts, which a monotonic clock does not).
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from kiosk.errors import KioskError, TransientError

SCHEMA_VERSION = 1
# What a session record's meta holds: plain JSON (it is stored as JSON text in the journal).
JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

log = logging.getLogger(__name__)


class Step(enum.Enum):
    """Progress of a session; a session only moves forward, and DELETED is final."""

    CREATED = "created"
    CONSENTED = "consented"
    CAPTURED = "captured"
    PROCESSED = "processed"
    DELIVERED = "delivered"
    DELETED = "deleted"

    @property
    def rank(self) -> int:
        """Position in the forward order (0 = created)."""
        return _ORDER.index(self)


_ORDER: tuple[Step, ...] = tuple(Step)


class JournalError(KioskError):
    """The journal cannot be opened or is inconsistent (internal failure: call the attendant)."""


class StorageFull(TransientError):
    """The disk is full: nothing was written; free space (or wait for retention) and retry."""


class SessionNotFound(KioskError):
    """No live session with that id (it never existed, or retention already deleted it)."""

    exit_code = 2


class BadTransition(KioskError):
    """A step that would move a session backwards, or touch a deleted session."""


@dataclass(frozen=True)
class SessionRecord:
    """One session as the journal knows it (no personal data)."""

    id: str
    step: Step
    created_at: float
    updated_at: float
    history: tuple[tuple[Step, float], ...] = field(default=(), compare=False)
    meta: Mapping[str, JsonValue] = field(default_factory=dict, compare=False)

    def reached(self, step: Step) -> bool:
        """Whether the session has reached (or passed) step."""
        return self.step.rank >= step.rank


@dataclass(frozen=True)
class FileRecord:
    """One tracked guest file row."""

    session_id: str
    kind: str
    name: str
    size: int
    sha256: str
    state: str
    created_at: float
    expires_at: float | None


def _is_disk_full(err: sqlite3.Error) -> bool:
    return isinstance(err, sqlite3.OperationalError) and "full" in str(err).lower()


class Journal:
    """Thread-safe access to the SQLite journal (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # SQLite creates the database, -wal and -shm with the umask's mode: owner-only from the start.
            old = os.umask(0o077)
            try:
                self._db = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
            finally:
                os.umask(old)
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(f"{path}{suffix}", 0o600)
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            # deleted rows (a hand-off file name carries a typed id) are zeroed, not left in free pages
            self._db.execute("PRAGMA secure_delete=ON")
            self._migrate()
        except sqlite3.Error as err:
            if _is_disk_full(err):
                raise StorageFull(f"disk full: cannot open the journal {path}") from err
            raise JournalError(f"cannot open the journal {path}: {err}") from err
        except OSError as err:
            raise JournalError(f"cannot create the data folder {path.parent}: {err}") from err

    def _migrate(self) -> None:
        with self._tx() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS sessions ("
                " id TEXT PRIMARY KEY, step TEXT NOT NULL, created_at REAL NOT NULL,"
                " updated_at REAL NOT NULL, meta TEXT NOT NULL DEFAULT '{}')"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS steps ("
                " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
                " step TEXT NOT NULL, at REAL NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS files ("
                " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
                " kind TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
                " state TEXT NOT NULL CHECK (state IN ('writing', 'ok')), created_at REAL NOT NULL,"
                " expires_at REAL, PRIMARY KEY (session_id, kind, name))"
            )
            db.execute("CREATE INDEX IF NOT EXISTS steps_by_session ON steps(session_id)")
            db.execute("CREATE INDEX IF NOT EXISTS files_by_kind ON files(kind)")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"journal {self.path} has schema {version}, newer than this kiosk ({SCHEMA_VERSION}):"
                    " update the kiosk software"
                )
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction under the lock; disk-full becomes StorageFull."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                if _is_disk_full(err):
                    raise StorageFull("disk full: the journal cannot record the step") from err
                raise JournalError(f"journal {self.path}: {err}") from err
            try:
                yield self._db
            except BaseException:
                self._rollback()
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                if _is_disk_full(err):
                    raise StorageFull("disk full: the journal cannot record the step") from err
                raise JournalError(f"journal {self.path}: {err}") from err

    def _rollback(self) -> None:
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                log.warning("journal rollback failed; SQLite rolls back on the next open")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args).fetchall())
            except sqlite3.Error as err:
                raise JournalError(f"journal {self.path}: {err}") from err

    def checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it (after deletions, so no deleted row lingers there)."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as err:  # a reader holding the WAL open: the next checkpoint gets it
                log.info("journal checkpoint postponed: %s", err)

    def close(self) -> None:
        """Checkpoint and close the connection."""
        with self._lock:
            # a busy checkpoint is harmless: the WAL is replayed on the next open
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    # sessions -----------------------------------------------------------------------------------------
    def create_session(self, session_id: str, now: float, meta: Mapping[str, JsonValue] | None = None) -> None:
        """Insert a new session in step CREATED."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO sessions(id, step, created_at, updated_at, meta) VALUES (?, ?, ?, ?, ?)",
                (session_id, Step.CREATED.value, now, now, json.dumps(dict(meta or {}))),
            )
            db.execute(
                "INSERT INTO steps(session_id, step, at) VALUES (?, ?, ?)",
                (session_id, Step.CREATED.value, now),
            )

    def get(self, session_id: str) -> SessionRecord | None:
        """The session's record with its step history, or None."""
        rows = self._query(
            "SELECT id, step, created_at, updated_at, meta FROM sessions WHERE id = ?", (session_id,)
        )
        if not rows:
            return None
        hist = self._query("SELECT step, at FROM steps WHERE session_id = ? ORDER BY rowid", (session_id,))
        return self._record(rows[0], tuple((Step(s), at) for s, at in hist))

    @staticmethod
    def _record(row: tuple[Any, ...], history: tuple[tuple[Step, float], ...] = ()) -> SessionRecord:
        sid, step, created, updated, meta = row
        return SessionRecord(sid, Step(step), created, updated, history, json.loads(meta))

    def sessions(self, *, live_only: bool = True) -> list[SessionRecord]:
        """All sessions (by default only those not yet deleted), oldest first."""
        where = "WHERE step != 'deleted'" if live_only else ""
        rows = self._query(
            f"SELECT id, step, created_at, updated_at, meta FROM sessions {where} ORDER BY created_at"
        )
        return [self._record(r) for r in rows]

    def count_reached(self, step: Step) -> int:
        """How many sessions (kept rows, deleted ones included) were ever recorded at step."""
        rows = self._query("SELECT COUNT(DISTINCT session_id) FROM steps WHERE step = ?", (step.value,))
        return int(rows[0][0])

    def advance(self, session_id: str, step: Step, now: float) -> SessionRecord:
        """Move a session forward to step (same step: no-op); raise BadTransition when backwards."""
        with self._tx() as db:
            row = db.execute("SELECT step FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise SessionNotFound(f"no session {session_id}")
            current = Step(row[0])
            if current is Step.DELETED and step is not Step.DELETED:
                raise BadTransition(f"session {session_id} is deleted; it cannot move to {step.value}")
            if step.rank < current.rank:
                raise BadTransition(
                    f"session {session_id} is {current.value}; it cannot go back to {step.value}"
                )
            if step is not current:
                db.execute(
                    "UPDATE sessions SET step = ?, updated_at = ? WHERE id = ?", (step.value, now, session_id)
                )
                db.execute(
                    "INSERT INTO steps(session_id, step, at) VALUES (?, ?, ?)", (session_id, step.value, now)
                )
        record = self.get(session_id)
        assert record is not None  # reason: the row was just updated under the lock
        return record

    def set_meta(self, session_id: str, key: str, value: JsonValue, now: float) -> None:
        """Set one JSON-serialisable meta value (no personal data) on a session."""
        with self._tx() as db:
            row = db.execute("SELECT meta FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise SessionNotFound(f"no session {session_id}")
            meta = json.loads(row[0])
            meta[key] = value
            db.execute(
                "UPDATE sessions SET meta = ?, updated_at = ? WHERE id = ?",
                (json.dumps(meta), now, session_id),
            )

    def forget(self, session_id: str) -> None:
        """Remove a session row and everything hanging off it."""
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def forget_deleted_before(self, cutoff: float) -> int:
        """Drop the rows of sessions deleted before cutoff (wall-clock seconds); return how many."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM sessions WHERE step = 'deleted' AND updated_at <= ?", (cutoff,))
            return int(cur.rowcount)

    # files --------------------------------------------------------------------------------------------
    def file_intent(self, rec: FileRecord) -> None:
        """Record a file about to be written (state 'writing'), replacing an older row of that name."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO files"
                " (session_id, kind, name, size, sha256, state, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, 'writing', ?, ?)",
                (rec.session_id, rec.kind, rec.name, rec.size, rec.sha256, rec.created_at, rec.expires_at),
            )

    def file_done(self, session_id: str, kind: str, name: str) -> None:
        """Mark a written file as complete."""
        with self._tx() as db:
            db.execute(
                "UPDATE files SET state = 'ok' WHERE session_id = ? AND kind = ? AND name = ?",
                (session_id, kind, name),
            )

    def file_drop(self, session_id: str, kind: str, name: str) -> None:
        """Forget one file row."""
        with self._tx() as db:
            db.execute(
                "DELETE FROM files WHERE session_id = ? AND kind = ? AND name = ?", (session_id, kind, name)
            )

    def set_expiry(self, session_id: str, kind: str, name: str, expires_at: float | None) -> None:
        """Change when one file expires (wall-clock seconds; None = with its session)."""
        with self._tx() as db:
            db.execute(
                "UPDATE files SET expires_at = ? WHERE session_id = ? AND kind = ? AND name = ?",
                (expires_at, session_id, kind, name),
            )

    def files(
        self, session_id: str | None = None, kind: str | None = None, *, include_writing: bool = False
    ) -> list[FileRecord]:
        """File rows, filtered by session and kind; complete ones only unless include_writing."""
        clauses, args = [], []
        if session_id is not None:
            clauses.append("session_id = ?")
            args.append(session_id)
        if kind is not None:
            clauses.append("kind = ?")
            args.append(kind)
        if not include_writing:
            clauses.append("state = 'ok'")
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._query(
            "SELECT session_id, kind, name, size, sha256, state, created_at, expires_at FROM files "
            f"{where} ORDER BY created_at, rowid",
            tuple(args),
        )
        return [FileRecord(*r) for r in rows]

    def integrity_ok(self) -> bool:
        """SQLite's own integrity check plus our invariants (files only hang off live sessions)."""
        ok = self._query("PRAGMA integrity_check")[0][0] == "ok"
        orphans = self._query(
            "SELECT COUNT(*) FROM files f JOIN sessions s ON s.id = f.session_id WHERE s.step = 'deleted'"
        )[0][0]
        return bool(ok and orphans == 0)
