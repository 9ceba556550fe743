"""The session store: every guest file, written atomically and tracked under its session in the journal.

Layout of the data folder (``config.data_dir``)::

    journal.sqlite3 (+ -wal, -shm)      the journal (kiosk.session.journal), no personal data
    sessions/<id>/<kind>/<name>         guest files; kind is one of retention.KINDS

Use::

    store = SessionStore(cfg.data_dir, cfg.retention)   # recovers from a crash on open
    s = store.create()                                  # id: 128 random bits, url-safe
    store.advance(s.id, Step.CONSENTED)                 # durable before it returns; tell the guest after
    path = store.write_file(s.id, "capture", "shot-1.jpg", jpeg_bytes)
    store.advance(s.id, Step.CAPTURED)                  # now "your photo is saved" is true
    store.files(s.id)                                   # [StoredFile(kind, name, path, size, sha256, ...)]
    store.pending()                                     # captured but not delivered: resume after a crash
    store.advance(s.id, Step.DELIVERED)                 # session-end files are deleted (retention policy)
    store.sweep()                                       # apply retention now (a Sweeper thread does it)
    store.delete(s.id); store.wipe_all()                # operator actions

Guarantees: a file write is temp file → fsync → rename → fsync(dir), announced in the journal before the
bytes land (state 'writing') and confirmed after; a crash at any point leaves either the old file, the
new file, or nothing, and :meth:`SessionStore.recover` (run on open) settles the journal to match the disk,
deletes temp files and any file or folder no live session owns. A full disk raises
:class:`~kiosk.session.journal.StorageFull` (transient) with nothing half-written left behind.
All methods are thread-safe; readers (the download server) never block writers.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import InputError
from kiosk.session.journal import (
    FileRecord,
    Journal,
    JsonValue,
    SessionNotFound,
    SessionRecord,
    Step,
    StorageFull,
)
from kiosk.session.retention import KINDS, SESSION_KINDS, RetentionConfig
from models.store import atomic_write_bytes, is_partial_write

log = logging.getLogger(__name__)

JOURNAL_NAME = "journal.sqlite3"
LOCK_NAME = "store.lock"
SESSIONS_DIR = "sessions"
# Written beside sessions/ when the store creates that folder: recovery and wipe delete everything in it that
# no session owns, so they refuse one without the marker (a data_dir pointed at someone's files by mistake).
MARKER = "sessions.marker"
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}

__all__ = [
    "RecoveryReport",
    "SessionNotFound",
    "SessionRecord",
    "SessionStore",
    "Step",
    "StorageFull",
    "StoredFile",
    "SweepReport",
    "Sweeper",
]


@dataclass(frozen=True)
class StoredFile:
    """A complete guest file: where it is and what the journal knows of it."""

    session_id: str
    kind: str
    name: str
    path: Path
    size: int
    sha256: str
    created_at: float
    expires_at: float | None


@dataclass
class SweepReport:
    """What a sweep or wipe removed (counts only: no names)."""

    sessions: int = 0
    files: int = 0
    bytes: int = 0

    def add(self, other: SweepReport) -> None:
        """Accumulate another report into this one."""
        self.sessions += other.sessions
        self.files += other.files
        self.bytes += other.bytes


@dataclass
class RecoveryReport:
    """What :meth:`SessionStore.recover` had to settle after an unclean stop."""

    temp_files_removed: int = 0
    writes_adopted: int = 0
    writes_dropped: int = 0
    missing_files: int = 0
    stray_removed: int = 0
    deletions_finished: int = 0

    @property
    def clean(self) -> bool:
        """Whether nothing needed fixing."""
        return not any(vars(self).values())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _disk_full(err: OSError, what: str) -> StorageFull:
    return StorageFull(f"disk full while writing {what}: free space on the data disk (or run `kiosk wipe`)")


def _sha256_file(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def _rmtree(path: Path) -> tuple[int, int]:
    """Remove a folder tree; return (files, bytes) removed. Missing paths are fine."""
    files = size = 0
    if not path.exists():
        return 0, 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                files += 1
                size += p.stat().st_size
        except OSError:
            continue
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        raise OSError(f"could not remove {path}")
    return files, size


class SessionStore:
    """Guest sessions and their files under one data folder, journaled in SQLite."""

    def __init__(
        self,
        data_dir: Path,
        retention: RetentionConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        recover: bool = True,
    ) -> None:
        """Open (creating) the store; settle any crash leftovers unless recover=False.

        Args:
            data_dir: the kiosk data folder.
            retention: the retention policy (defaults when None).
            clock: wall-clock seconds (injected in tests; retention must survive restarts).
            recover: run :meth:`recover` now.
        """
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / SESSIONS_DIR
        self.retention = retention or RetentionConfig()
        self.clock = clock
        self._lock = threading.RLock()
        had_journal = (self.data_dir / JOURNAL_NAME).exists()
        if self.root.is_symlink():
            raise InputError(f"{self.root} is a symbolic link: guest data stays inside data_dir; make it a folder")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fresh = not self.root.exists()
            self.root.mkdir(exist_ok=True, mode=0o700)
            os.chmod(self.root, 0o700)
        except OSError as err:
            if err.errno in _DISK_FULL:
                raise _disk_full(err, "the sessions folder") from err
            raise InputError(
                f"cannot create the data folder {self.root}: {err.strerror} (check data_dir)"
            ) from err
        marker = self.data_dir / MARKER
        if not marker.exists():
            if not (fresh or had_journal or not any(self.root.iterdir())):
                raise InputError(
                    f"{self.root} holds files the kiosk did not create (no {MARKER}): the store would delete "
                    "them; point data_dir at the kiosk's own folder"
                )
            atomic_write_bytes(marker, b"headshot-kiosk session store: everything here is guest data\n")
        self.journal = Journal(self.data_dir / JOURNAL_NAME)
        # Recovery deletes temp files and unconfirmed writes, which would break a writer in another live
        # process (`kiosk share` beside `kiosk run`): only the sole user of the store recovers. Every store
        # holds a shared lock on LOCK_NAME for its lifetime; recovery needs it exclusively for a moment.
        self._lock_fd = os.open(self.data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        sole = True
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sole = False
        self.last_recovery = RecoveryReport()
        if recover and sole:
            self.last_recovery = self.recover()
        elif recover:
            log.info("store in use by another process: crash recovery left to the first one")
        fcntl.flock(self._lock_fd, fcntl.LOCK_SH)

    def close(self) -> None:
        """Close the journal and release the store lock."""
        self.journal.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # validation ---------------------------------------------------------------------------------------
    @staticmethod
    def valid_session_id(session_id: str) -> bool:
        """Whether a string has the shape of a session id (safe in paths and URLs)."""
        return bool(SESSION_ID_RE.fullmatch(session_id))

    def _check_id(self, session_id: str) -> None:
        if not self.valid_session_id(session_id):
            raise SessionNotFound("malformed session id")

    @staticmethod
    def _check_kind_name(kind: str, name: str) -> None:
        if kind not in KINDS:
            raise InputError(f"unknown file kind {kind!r}: use one of {', '.join(KINDS)}")
        if not FILE_NAME_RE.fullmatch(name) or ".." in name:
            raise InputError(
                f"bad file name {name!r}: use letters, digits, '.', '_', '-' (first a letter or digit)"
            )

    def _live(self, session_id: str) -> SessionRecord:
        self._check_id(session_id)
        rec = self.journal.get(session_id)
        if rec is None or rec.step is Step.DELETED:
            raise SessionNotFound(f"no live session {session_id}")
        return rec

    def session_dir(self, session_id: str) -> Path:
        """The folder of one session (may not exist yet)."""
        self._check_id(session_id)
        return self.root / session_id

    def _require_marker(self, action: str) -> None:
        if self.root.is_symlink() or not (self.data_dir / MARKER).is_file():
            raise InputError(f"refusing to {action} {self.root}: it is not the kiosk's session store (no {MARKER})")

    # sessions -----------------------------------------------------------------------------------------
    def begin(self) -> str:
        """A new guest session (the first tap): its id. The SessionHome of the state machine."""
        return self.create().id

    def finish(self, session_id: str, completed: bool) -> SweepReport:
        """The guest left: a completed session is delivered (retention applies), an abandoned one deleted."""
        try:
            rec = self.get(session_id)
        except SessionNotFound:
            return SweepReport()
        if not completed:
            return self.delete(session_id)
        if rec.step is not Step.DELIVERED:
            self.advance(session_id, Step.DELIVERED)
        return SweepReport()

    def create(
        self, meta: Mapping[str, JsonValue] | None = None, *, session_id: str | None = None
    ) -> SessionRecord:
        """Start a session with an unguessable id (128 random bits); journaled before it returns.

        Args:
            meta: small JSON values (no personal data).
            session_id: adopt this id instead (a caller that already named the session with ≥ 128 random
                bits, e.g. a uuid4 hex); it must be well-formed and never used before.
        """
        if session_id is not None:
            self._check_id(session_id)
            if self.journal.get(session_id) is not None:
                raise InputError(f"session id {session_id} is already in use")
            sid = session_id
        else:
            while True:
                sid = secrets.token_urlsafe(16)
                if sid[0] != "-" and self.journal.get(sid) is None:
                    break
        self.journal.create_session(sid, self.clock(), meta)
        rec = self.journal.get(sid)
        assert rec is not None  # reason: inserted just above
        log.info("session %s created", sid)
        return rec

    def get(self, session_id: str) -> SessionRecord:
        """A live session's record; SessionNotFound when missing or deleted."""
        return self._live(session_id)

    def sessions(self) -> list[SessionRecord]:
        """All live sessions, oldest first."""
        return self.journal.sessions()

    def advance(self, session_id: str, step: Step) -> SessionRecord:
        """Record a step durably (returns once it is on disk); DELIVERED applies session-end retention."""
        if step is Step.DELETED:
            self.delete(session_id)
            return self.journal.get(session_id)  # type: ignore[return-value]  # reason: row kept as history
        self._check_id(session_id)
        with self._lock:
            rec = self.journal.advance(session_id, step, self.clock())
        log.info("session %s %s", session_id, step.value)
        if step is Step.DELIVERED and self.retention.delete_on_delivery:
            self._end_session(session_id)
        return rec

    def set_meta(self, session_id: str, key: str, value: JsonValue) -> None:
        """Attach a small JSON value to a session (never personal data: retention does not treat it)."""
        self._live(session_id)
        self.journal.set_meta(session_id, key, value, self.clock())

    def pending(self) -> list[SessionRecord]:
        """Sessions the guest was told are saved but that were not delivered: resume or report them."""
        return [s for s in self.journal.sessions() if s.step in (Step.CAPTURED, Step.PROCESSED)]

    # files --------------------------------------------------------------------------------------------
    def write_file(
        self, session_id: str, kind: str, name: str, data: bytes, *, expires_at: float | None = None
    ) -> Path:
        """Write one guest file atomically and track it; return its path.

        Args:
            session_id: a live session.
            kind: one of retention.KINDS (capture, result, thumb, print, download, mail, handoff, contact, lead).
            name: file name: letters, digits, '.', '_', '-'.
            data: the bytes.
            expires_at: wall-clock seconds after which retention deletes it (None: with its session).
        """
        self._check_kind_name(kind, name)
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._live(session_id)
            folder = self.root / session_id / kind
            path = folder / name
            rec = FileRecord(session_id, kind, name, len(data), digest, "writing", self.clock(), expires_at)
            self.journal.file_intent(rec)
            try:
                self._mkdirs(folder)
                atomic_write_bytes(path, data)  # owner-only (0600), temp file + fsync + rename + fsync(dir)
            except OSError as err:
                self._settle_row(session_id, kind, name, path)
                if err.errno in _DISK_FULL:
                    raise _disk_full(err, path.name) from err
                raise
            except BaseException:
                self._settle_row(session_id, kind, name, path)
                raise
            self.journal.file_done(session_id, kind, name)
        return path

    def _mkdirs(self, folder: Path) -> None:
        try:
            for d in (folder.parent, folder):
                if not d.exists():
                    d.mkdir(mode=0o700)
                    _fsync_dir(d.parent)
        except FileExistsError:
            pass
        except OSError as err:
            if err.errno in _DISK_FULL:
                raise _disk_full(err, folder.name) from err
            raise

    def _settle_row(self, session_id: str, kind: str, name: str, path: Path) -> bool:
        """After a failed or interrupted write: adopt what is on disk under the final name, or forget it.

        Only a rename creates the final name, so whatever is there is complete (the old version or the new).
        Returns True when a file was adopted.
        """
        if path.is_file():
            size, digest = _sha256_file(path)
            for row in self.journal.files(session_id, kind, include_writing=True):
                if row.name == name:
                    self.journal.file_intent(
                        FileRecord(
                            session_id, kind, name, size, digest, "writing", row.created_at, row.expires_at
                        )
                    )
            self.journal.file_done(session_id, kind, name)
            return True
        self.journal.file_drop(session_id, kind, name)
        return False

    def _stored(self, row: FileRecord) -> StoredFile:
        return StoredFile(
            row.session_id,
            row.kind,
            row.name,
            self.root / row.session_id / row.kind / row.name,
            row.size,
            row.sha256,
            row.created_at,
            row.expires_at,
        )

    def files(self, session_id: str, kind: str | None = None) -> list[StoredFile]:
        """Complete files of one session (optionally one kind), oldest first."""
        self._check_id(session_id)
        return [self._stored(r) for r in self.journal.files(session_id, kind)]

    def files_of_kind(self, kind: str) -> list[StoredFile]:
        """Complete files of one kind across all live sessions (outboxes: mail, handoff)."""
        if kind not in KINDS:
            raise InputError(f"unknown file kind {kind!r}")
        return [self._stored(r) for r in self.journal.files(None, kind)]

    def file(self, session_id: str, kind: str, name: str) -> StoredFile:
        """One complete file; SessionNotFound when the session or the file is not there."""
        self._check_id(session_id)
        self._check_kind_name(kind, name)
        for row in self.journal.files(session_id, kind):
            if row.name == name:
                return self._stored(row)
        raise SessionNotFound(f"no {kind} file {name} in session {session_id}")

    def read_file(self, session_id: str, kind: str, name: str) -> bytes:
        """The bytes of one complete file."""
        f = self.file(session_id, kind, name)
        try:
            return f.path.read_bytes()
        except FileNotFoundError as err:
            raise SessionNotFound(f"{kind} file {name} of session {session_id} is gone") from err

    def set_expiry(self, session_id: str, kind: str, name: str, expires_at: float | None) -> None:
        """Change when one file expires (wall-clock seconds)."""
        self.file(session_id, kind, name)
        self.journal.set_expiry(session_id, kind, name, expires_at)

    def remove_file(self, session_id: str, kind: str, name: str) -> SweepReport:
        """Delete one file now (an outbox item once sent, a download copy once its link is spent).

        A delivered session left with no file is deleted too; the report counts it.
        """
        self._check_id(session_id)
        self._check_kind_name(kind, name)
        report = SweepReport()
        with self._lock:
            (self.root / session_id / kind / name).unlink(missing_ok=True)
            self.journal.file_drop(session_id, kind, name)
            rec = self.journal.get(session_id)
            if rec is not None and rec.step is Step.DELIVERED and not self.journal.files(session_id):
                report.add(self.delete(session_id))
        return report

    # deletion and retention ---------------------------------------------------------------------------
    def delete(self, session_id: str) -> SweepReport:
        """Delete a session and all its files: journaled first, so a crash mid-way is finished on recovery."""
        self._check_id(session_id)
        with self._lock:
            rec = self.journal.get(session_id)
            if rec is None:
                raise SessionNotFound(f"no session {session_id}")
            report = SweepReport()
            if rec.step is not Step.DELETED:
                report.sessions = 1
            try:
                self._journal_deletion(rec)
            except StorageFull:
                # The journal needs a little space to record the deletion: free the files first (a crash
                # now leaves rows without files, which recovery drops), then record it.
                report.files, report.bytes = _rmtree(self.root / session_id)
                self._journal_deletion(rec)
            files, size = _rmtree(self.root / session_id)
            report.files += files
            report.bytes += size
            self.journal.checkpoint()  # the deleted rows leave the WAL too
        log.info("session %s deleted (%d files)", session_id, report.files)
        return report

    def _journal_deletion(self, rec: SessionRecord) -> None:
        for row in self.journal.files(rec.id, include_writing=True):
            self.journal.file_drop(rec.id, row.kind, row.name)
        if rec.step is not Step.DELETED:
            self.journal.advance(rec.id, Step.DELETED, self.clock())

    def _end_session(self, session_id: str, now: float | None = None) -> SweepReport:
        """Session end: drop the session-kind files; delete the session when nothing outlives it."""
        report = SweepReport()
        now = self.clock() if now is None else now
        with self._lock:
            for f in self.files(session_id):
                # A result a live download link refers to is pinned until the link's expiry.
                if f.kind in SESSION_KINDS and not (f.expires_at is not None and f.expires_at > now):
                    report.files += 1
                    report.bytes += f.size
                    report.sessions += self.remove_file(session_id, f.kind, f.name).sessions
            rec = self.journal.get(session_id)
            if rec is not None and rec.step is not Step.DELETED and not self.journal.files(session_id):
                report.add(self.delete(session_id))
        return report

    def sweep(self, now: float | None = None) -> SweepReport:
        """Apply the retention policy at wall-clock time now; return what was removed."""
        now = self.clock() if now is None else now
        pol = self.retention
        report = SweepReport()
        with self._lock:
            for s in self.journal.sessions():
                if now - s.created_at >= pol.max_age_hours * 3600.0:
                    report.add(self.delete(s.id))
                    continue
                if not s.reached(Step.CAPTURED) and now - s.updated_at >= pol.abandoned_minutes * 60.0:
                    report.add(self.delete(s.id))
                    continue
                for f in self.files(s.id):
                    if f.expires_at is not None and f.expires_at <= now:
                        report.files += 1
                        report.bytes += f.size
                        report.sessions += self.remove_file(s.id, f.kind, f.name).sessions
                if s.step is Step.DELIVERED and pol.delete_on_delivery:
                    report.add(self._end_session(s.id, now))
            if self.journal.forget_deleted_before(now - pol.keep_journal_days * 86400.0) or report.files:
                self.journal.checkpoint()
        if report.sessions or report.files:
            log.info("retention: removed %d sessions, %d files", report.sessions, report.files)
        return report

    def wipe_all(self) -> SweepReport:
        """Operator wipe: delete every session and anything else under the sessions folder, now."""
        self._require_marker("wipe")
        report = SweepReport()
        with self._lock:
            for s in self.journal.sessions():
                report.add(self.delete(s.id))
            for stray in list(self.root.iterdir()):
                if stray.is_dir() and not stray.is_symlink():
                    files, size = _rmtree(stray)
                else:
                    files, size = 1, stray.lstat().st_size
                    stray.unlink(missing_ok=True)
                report.files += files
                report.bytes += size
            self.journal.checkpoint()
        log.warning("wipe: removed %d sessions, %d files", report.sessions, report.files)
        return report

    # crash recovery -----------------------------------------------------------------------------------
    def recover(self) -> RecoveryReport:
        """Settle the journal and the disk after an unclean stop (safe to run at any time)."""
        self._require_marker("recover")
        rep = RecoveryReport()
        with self._lock:
            live = {s.id: s for s in self.journal.sessions()}
            for row in self.journal.files(include_writing=True):
                path = self.root / row.session_id / row.kind / row.name
                if row.state == "writing":
                    if self._settle_row(row.session_id, row.kind, row.name, path):
                        rep.writes_adopted += 1
                    else:
                        rep.writes_dropped += 1
                elif not path.is_file():
                    self.journal.file_drop(row.session_id, row.kind, row.name)
                    rep.missing_files += 1
            for s in self.journal.sessions(live_only=False):
                if s.step is Step.DELETED and (self.root / s.id).exists():
                    _rmtree(self.root / s.id)
                    rep.deletions_finished += 1
            tracked = {(r.session_id, r.kind, r.name) for r in self.journal.files()}
            for entry in list(self.root.iterdir()):
                if entry.name not in live or not entry.is_dir() or entry.is_symlink():
                    if entry.exists() or entry.is_symlink():
                        if entry.is_dir() and not entry.is_symlink():
                            _rmtree(entry)
                        else:
                            entry.unlink(missing_ok=True)
                        rep.stray_removed += 1
                    continue
                for p in sorted(entry.rglob("*"), reverse=True):
                    rel = p.relative_to(entry).parts
                    if p.is_dir() and not p.is_symlink():
                        if len(rel) != 1 or rel[0] not in KINDS:
                            _rmtree(p)
                            rep.stray_removed += 1
                        continue
                    if is_partial_write(p.name):
                        p.unlink(missing_ok=True)
                        rep.temp_files_removed += 1
                    elif len(rel) != 2 or (entry.name, rel[0], rel[1]) not in tracked:
                        p.unlink(missing_ok=True)
                        rep.stray_removed += 1
        if not rep.clean:
            log.warning("store recovered after an unclean stop: %s", vars(rep))
        return rep


class Sweeper:
    """A daemon thread applying the retention policy every `sweep_interval_s` (and once at start)."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention-sweeper", daemon=True)

    def start(self) -> Sweeper:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it (seconds)."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.store.sweep()
            except Exception:  # reason: supervised loop; a failed sweep retries next tick
                log.exception(
                    "retention sweep failed; retrying in %.0f s", self.store.retention.sweep_interval_s
                )
            self._stop.wait(self.store.retention.sweep_interval_s)
