"""The session store and journal: steps, atomic tracked files, retention, wipe, disk full, kill -9."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kiosk.errors import InputError
from kiosk.session.journal import BadTransition, SessionNotFound, StorageFull
from kiosk.session.retention import RetentionConfig
from kiosk.session.store import SessionStore, Step
from models.store import PARTIAL_SUFFIX, is_partial_write

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def guest_files(data_dir: Path) -> list[Path]:
    return all_files(data_dir / "sessions")


def test_journal_is_wal_and_full_sync(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    store.close()
    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # synchronous is per connection: check the store's own connection
    store = SessionStore(tmp_path)
    assert store.journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_session_lifecycle_and_history(tmp_path: Path) -> None:
    clock = Clock()
    store = SessionStore(tmp_path, clock=clock)
    s = store.create()
    assert store.valid_session_id(s.id) and len(s.id) >= 22
    assert s.step is Step.CREATED
    clock.t += 1
    store.advance(s.id, Step.CONSENTED)
    p = store.write_file(s.id, "capture", "shot-1.jpg", b"jpegbytes")
    assert p.read_bytes() == b"jpegbytes"
    assert oct(p.stat().st_mode & 0o777) == oct(0o600)
    rec = store.advance(s.id, Step.CAPTURED)
    assert [st for st, _ in rec.history] == [Step.CREATED, Step.CONSENTED, Step.CAPTURED]
    assert store.pending() == [store.get(s.id)]
    with pytest.raises(BadTransition):
        store.advance(s.id, Step.CONSENTED)
    store.advance(s.id, Step.CAPTURED)  # same step: no-op
    (f,) = store.files(s.id)
    assert (f.kind, f.name, f.size) == ("capture", "shot-1.jpg", 9)
    assert f.sha256 == hashlib.sha256(b"jpegbytes").hexdigest()
    store.set_meta(s.id, "style", "studio-grey")
    assert store.get(s.id).meta == {"style": "studio-grey"}
    # survives a reopen
    store.close()
    store = SessionStore(tmp_path, clock=clock)
    assert store.last_recovery.clean
    assert store.read_file(s.id, "capture", "shot-1.jpg") == b"jpegbytes"
    assert [x.id for x in store.pending()] == [s.id]


def test_ids_are_unique_and_random(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    ids = {store.create().id for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize(
    "name", ["../evil", "..", ".hidden", "a/b", "", "x" * 200, "a\x00b", "名前.jpg", f".x.1a2b{PARTIAL_SUFFIX}"]
)
def test_bad_file_names_are_refused(tmp_path: Path, name: str) -> None:
    store = SessionStore(tmp_path)
    s = store.create()
    with pytest.raises(InputError):
        store.write_file(s.id, "capture", name, b"x")
    assert guest_files(tmp_path) == []


def test_bad_kind_and_ids_are_refused(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    s = store.create()
    with pytest.raises(InputError):
        store.write_file(s.id, "secrets", "a.jpg", b"x")
    for bad in ["../../etc", "short", "a" * 100, "abc/def" * 4]:
        with pytest.raises(SessionNotFound):
            store.write_file(bad, "capture", "a.jpg", b"x")
    with pytest.raises(SessionNotFound):
        store.write_file("A" * 22, "capture", "a.jpg", b"x")  # well-formed, unknown


def test_delivery_deletes_session_files_and_keeps_download_until_expiry(tmp_path: Path) -> None:
    clock = Clock()
    store = SessionStore(tmp_path, clock=clock)
    s = store.create()
    for kind in ("capture", "result", "thumb", "print"):
        store.write_file(s.id, kind, "a.jpg", b"1234")
    store.write_file(s.id, "download", "a.jpg", b"1234", expires_at=clock.t + 600)
    store.advance(s.id, Step.CAPTURED)
    store.advance(s.id, Step.DELIVERED)
    assert [(f.kind, f.name) for f in store.files(s.id)] == [("download", "a.jpg")]
    assert [p.parent.name for p in guest_files(tmp_path)] == ["download"]
    clock.t += 599
    assert store.sweep().files == 0
    clock.t += 2
    rep = store.sweep()
    assert (rep.sessions, rep.files) == (1, 1)
    assert guest_files(tmp_path) == []
    with pytest.raises(SessionNotFound):
        store.get(s.id)


def test_delivered_session_without_outliving_files_goes_at_once(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    s = store.create()
    store.write_file(s.id, "result", "a.jpg", b"x")
    store.advance(s.id, Step.DELIVERED)
    assert store.sessions() == []
    assert not (tmp_path / "sessions" / s.id).exists()


def test_outbox_outlives_delivery_until_removed(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    s = store.create()
    store.write_file(s.id, "result", "a.jpg", b"x")
    store.write_file(s.id, "mail", "m1.eml", b"mail")
    store.advance(s.id, Step.DELIVERED)
    assert [f.kind for f in store.files_of_kind("mail")] == ["mail"]
    store.remove_file(s.id, "mail", "m1.eml")
    assert store.sessions() == []
    assert guest_files(tmp_path) == []


def test_max_age_and_abandoned(tmp_path: Path) -> None:
    clock = Clock()
    pol = RetentionConfig(max_age_hours=24, abandoned_minutes=30)
    store = SessionStore(tmp_path, pol, clock=clock)
    store.create()  # walked away before the capture
    captured = store.create()
    store.write_file(captured.id, "capture", "a.jpg", b"x")
    store.advance(captured.id, Step.CAPTURED)
    outbox = store.create()
    store.write_file(outbox.id, "handoff", "E123.jpg", b"x")
    store.advance(outbox.id, Step.DELIVERED)
    clock.t += 30 * 60 + 1
    assert store.sweep().sessions == 1
    assert {s.id for s in store.sessions()} == {captured.id, outbox.id}
    clock.t += 24 * 3600
    assert store.sweep().sessions == 2
    assert guest_files(tmp_path) == []
    # deleted rows (no guest data) are pruned after keep_journal_days
    clock.t += 8 * 86400
    store.sweep()
    assert store.journal.sessions(live_only=False) == []


def test_wipe_all_leaves_no_guest_file(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    for _ in range(3):
        s = store.create()
        for kind in ("capture", "result", "thumb", "print", "download", "mail", "handoff"):
            store.write_file(s.id, kind, "f.bin", os.urandom(100))
    (tmp_path / "sessions" / "stray.txt").write_text("left by hand")
    rep = store.wipe_all()
    assert rep.sessions == 3 and rep.files == 22 and rep.bytes == 2100 + len("left by hand")
    assert guest_files(tmp_path) == []
    assert store.journal.integrity_ok()


def test_recovery_settles_leftovers(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    s = store.create()
    store.write_file(s.id, "capture", "a.jpg", b"keep")
    folder = tmp_path / "sessions" / s.id / "capture"
    (folder / f".b.jpg.1234{PARTIAL_SUFFIX}").write_bytes(b"half")
    (folder / "untracked.jpg").write_bytes(b"?")
    (tmp_path / "sessions" / ("Z" * 22)).mkdir()
    (tmp_path / "sessions" / ("Z" * 22) / "x").write_bytes(b"?")
    # an intent without a file (crash before the rename) and one with its file (crash after it)
    from kiosk.session.journal import FileRecord

    store.journal.file_intent(FileRecord(s.id, "result", "gone.jpg", 4, "0" * 64, "writing", 0.0, None))
    store.journal.file_intent(FileRecord(s.id, "result", "done.jpg", 4, "0" * 64, "writing", 0.0, None))
    (tmp_path / "sessions" / s.id / "result").mkdir()
    (tmp_path / "sessions" / s.id / "result" / "done.jpg").write_bytes(b"done")
    store.close()
    store = SessionStore(tmp_path)
    rep = store.last_recovery
    assert (rep.temp_files_removed, rep.writes_adopted, rep.writes_dropped, rep.stray_removed) == (1, 1, 1, 2)
    names = sorted(f.name for f in store.files(s.id))
    assert names == ["a.jpg", "done.jpg"]
    assert store.file(s.id, "result", "done.jpg").sha256 == hashlib.sha256(b"done").hexdigest()
    assert sorted(p.name for p in guest_files(tmp_path)) == ["a.jpg", "done.jpg"]
    assert SessionStore(tmp_path).last_recovery.clean


def test_threads_write_concurrently(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(10):
                s = store.create()
                store.write_file(s.id, "capture", f"c{i}.jpg", os.urandom(2000))
                store.advance(s.id, Step.CAPTURED)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.pending()) == 40
    assert len(guest_files(tmp_path)) == 40
    assert store.journal.integrity_ok()


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 1 MiB tmpfs: a real full disk (needs root and mount rights)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs to fill a real disk needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (container without CAP_SYS_ADMIN?): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_is_transient_and_leaves_nothing_half_written(tiny_disk: Path) -> None:
    store = SessionStore(tiny_disk)
    first = store.create()
    store.write_file(first.id, "capture", "small.jpg", b"x" * 1000)
    s = store.create()
    chunk = os.urandom(150_000)
    written = 0
    with pytest.raises(StorageFull) as info:
        for i in range(20):
            store.write_file(s.id, "result", f"r{i}.jpg", chunk)
            written += 1
    assert info.value.transient and "disk full" in str(info.value)
    assert 1 <= written < 20
    on_disk = guest_files(tiny_disk)
    assert not [p for p in on_disk if is_partial_write(p.name)]
    assert sorted(p.name for p in on_disk) == sorted(["small.jpg"] + [f"r{i}.jpg" for i in range(written)])
    for f in store.files(s.id):
        assert hashlib.sha256(f.path.read_bytes()).hexdigest() == f.sha256
    assert store.journal.integrity_ok()
    # transient: free space and the same write succeeds
    store.delete(s.id)
    again = store.create()
    store.write_file(again.id, "result", "r.jpg", chunk)
    assert store.read_file(first.id, "capture", "small.jpg") == b"x" * 1000
    store.close()
    assert SessionStore(tiny_disk).last_recovery.clean


RECOVERIES: list = []


def _check_consistent(data_dir: Path, captured: dict[str, str]) -> None:
    store = SessionStore(data_dir)
    RECOVERIES.append(store.last_recovery)
    assert store.journal.integrity_ok()
    on_disk = guest_files(data_dir)
    assert not [p for p in on_disk if is_partial_write(p.name)], "a temp file survived recovery"
    tracked = set()
    for s in store.sessions():
        for f in store.files(s.id):
            tracked.add(f.path)
            assert hashlib.sha256(f.path.read_bytes()).hexdigest() == f.sha256, "tracked file is partial"
    assert set(on_disk) == tracked, "untracked guest file left on disk"
    # every capture the guest was told is saved is still there, whole (or the session was delivered)
    for sid, digest in captured.items():
        try:
            rec = store.get(sid)
        except SessionNotFound:
            continue  # delivered and deleted by retention
        if rec.step in (Step.CAPTURED, Step.PROCESSED):
            assert rec in store.pending()
        if rec.step is Step.CAPTURED:
            f = store.file(sid, "capture", "shot-1.jpg")
            h = hashlib.sha256(f.path.read_bytes()).hexdigest()
            # either the original capture or its complete in-place overwrite
            assert h == digest or h == f.sha256
    store.close()


@pytest.mark.slow
def test_kill_9_mid_write_recovers(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    captured: dict[str, str] = {}
    RECOVERIES.clear()
    sizes = [300_000, 1_000_000, 3_000_000, 64_000, 2_000_000, 500_000, 1_500_000, 4_000_000]
    for round_, size in enumerate(sizes):
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "store_worker.py"), str(tmp_path), str(size)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        want = 1 + round_ % 3
        for _ in range(want):
            line = proc.stdout.readline()
            assert line.startswith("captured "), f"worker died: {line!r}"
            _, sid, digest = line.split()
            captured[sid] = digest
        # let it run into the next writes, then pull the plug at a different point each round
        deadline = time.monotonic() + 0.003 * (round_ + 1) * (1 + size / 1_000_000)
        while time.monotonic() < deadline:
            pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for line in proc.stdout:
            if line.startswith("captured "):
                _, sid, digest = line.split()
                captured[sid] = digest
        proc.stdout.close()
        _check_consistent(tmp_path, captured)
    assert len(captured) >= len(sizes)
    # the kills must really have landed mid-write at least once, or this test proves nothing
    assert any(not r.clean for r in RECOVERIES), "no kill interrupted a write; tune the delays"


def test_sweeper_thread_applies_the_policy(tmp_path: Path) -> None:
    from kiosk.session.store import Sweeper

    clock = Clock()
    store = SessionStore(tmp_path, RetentionConfig(abandoned_minutes=1, sweep_interval_s=1), clock=clock)
    store.write_file(store.create().id, "thumb", "t.jpg", b"x")
    clock.t += 61
    sweeper = Sweeper(store).start()
    try:
        deadline = time.monotonic() + 10
        while store.sessions() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sweeper.stop()
    assert store.sessions() == [] and guest_files(tmp_path) == []


def test_recovery_waits_for_the_sole_user(tmp_path: Path) -> None:
    """A second process opening the store (kiosk share beside kiosk run) must not reap a live write."""
    from kiosk.session.journal import FileRecord

    live = SessionStore(tmp_path)
    s = live.create()
    live.journal.file_intent(FileRecord(s.id, "capture", "a.jpg", 4, "0" * 64, "writing", 0.0, None))
    folder = tmp_path / "sessions" / s.id / "capture"
    folder.mkdir(parents=True)
    tmp = folder / f".a.jpg.0000{PARTIAL_SUFFIX}"
    tmp.write_bytes(b"half")
    code = (
        "import sys; from kiosk.session.store import SessionStore; "
        "s = SessionStore(sys.argv[1]); print(s.last_recovery.clean); s.close()"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert out.stdout.strip() == "True"
    assert tmp.exists()  # the live writer's temp file is untouched
    live.close()
    after = SessionStore(tmp_path)
    assert after.last_recovery.temp_files_removed == 1 and after.last_recovery.writes_dropped == 1
    assert not tmp.exists()


def test_a_sessions_folder_the_kiosk_did_not_make_is_refused_not_emptied(tmp_path: Path) -> None:
    from kiosk.errors import InputError

    (tmp_path / "sessions").mkdir()
    (tmp_path / "sessions" / "holiday.jpg").write_bytes(b"someone's photo")
    with pytest.raises(InputError, match="did not create"):
        SessionStore(tmp_path)
    assert (tmp_path / "sessions" / "holiday.jpg").read_bytes() == b"someone's photo"


def test_recovery_and_wipe_refuse_a_store_without_its_marker(tmp_path: Path) -> None:
    from kiosk.errors import InputError
    from kiosk.session.store import MARKER

    store = SessionStore(tmp_path)
    (tmp_path / MARKER).unlink()
    with pytest.raises(InputError, match="not the kiosk's session store"):
        store.wipe_all()
    with pytest.raises(InputError, match="not the kiosk's session store"):
        store.recover()
    store.close()


def test_a_symlinked_sessions_folder_is_refused(tmp_path: Path) -> None:
    from kiosk.errors import InputError

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not guest data")
    data = tmp_path / "data"
    data.mkdir()
    (data / "sessions").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InputError, match="symbolic link"):
        SessionStore(data)
    assert (elsewhere / "keep.txt").exists()


def test_guest_files_journal_and_wal_are_owner_only_and_the_wal_is_truncated(tmp_path: Path) -> None:
    import stat

    old = os.umask(0o022)  # a permissive umask outside the systemd unit
    try:
        store = SessionStore(tmp_path / "data")
        s = store.create()
        path = store.write_file(s.id, "handoff", "E12345.jpg", b"x" * 5000)
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "data").glob("journal.sqlite3*")}
        assert modes and all(m == 0o600 for m in modes.values()), modes
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for folder in (store.root, path.parent, path.parent.parent):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        store.delete(s.id)
        wal = tmp_path / "data" / "journal.sqlite3-wal"
        assert not wal.exists() or wal.stat().st_size == 0, "the WAL still holds the deleted rows"
        assert b"E12345" not in (tmp_path / "data" / "journal.sqlite3").read_bytes()
        store.close()
    finally:
        os.umask(old)
