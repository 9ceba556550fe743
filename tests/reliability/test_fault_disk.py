"""Disk full while saving: the kiosk's data folder on a small tmpfs that a ballast file fills mid-session.

Where mounting is not allowed, the full disk is injected instead: ENOSPC from the capture writer and from
the store's atomic writer (the same errno a full disk gives), which exercises the same paths.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kiosk_driver import finish_session, run_until, start_session

from kiosk.session.flow import State
from kiosk.session.journal import Step, StorageFull
from kiosk.session.store import SessionStore


class FullDisk:
    """Makes a folder's disk full and frees it again: a real tmpfs, or injected ENOSPC."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        self.monkeypatch = monkeypatch
        self.mounted = False
        self.full = False
        folder.mkdir(parents=True)
        try:
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=48m,mode=0755", "tmpfs", str(folder)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            self.mounted = done.returncode == 0
        except OSError:
            self.mounted = False
        if not self.mounted:
            self._inject()

    def _inject(self) -> None:
        import kiosk.app.controller as controller_mod
        import kiosk.session.store as store_mod

        real_capture = controller_mod.write_jpeg_atomic
        real_store = store_mod.atomic_write

        def capture(path: Path, *a: Any, **kw: Any) -> Path:
            if self.full:
                raise OSError(errno.ENOSPC, "No space left on device (injected)", str(path))
            return real_capture(path, *a, **kw)

        def store_write(path: Path, *a: Any, **kw: Any) -> None:
            if self.full:
                raise store_mod._disk_full(OSError(errno.ENOSPC, "injected"), path.name)
            real_store(path, *a, **kw)

        self.monkeypatch.setattr(controller_mod, "write_jpeg_atomic", capture)
        self.monkeypatch.setattr(store_mod, "atomic_write", store_write)

    def fill(self) -> None:
        """Leave (almost) no free space."""
        self.full = True
        if not self.mounted:
            return
        fd = os.open(self.folder / "ballast", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for chunk in (1 << 20, 4096, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError as err:
                    assert err.errno == errno.ENOSPC
        finally:
            os.close(fd)

    def free(self) -> None:
        """Space is back (the operator deleted something, retention ran)."""
        self.full = False
        (self.folder / "ballast").unlink(missing_ok=True)

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.folder)], capture_output=True, timeout=30, check=False)


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FullDisk]:
    disk = FullDisk(tmp_path / "small", monkeypatch)
    try:
        yield disk
    finally:
        disk.close()


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and (p.name.startswith(".") or ".tmp-" in p.name)]


def test_disk_full_at_capture_says_one_moment_and_the_session_goes_on_once_space_is_back(
    small_disk: FullDisk, make_kiosk: Callable[..., tuple[Any, Any]]
) -> None:
    kiosk, clock = make_kiosk(data_dir=small_disk.folder / "data")
    c = kiosk.controller
    sid = start_session(c)
    small_disk.fill()
    assert run_until(c, lambda: c.state is State.ATTENDANT_NEEDED, 40), f"state {c.state}"
    assert c.session is not None and c.session.id == sid, "the guest's session is kept"
    assert not temp_files(small_disk.folder / "data"), "no half-written file left behind"
    # Still full: the failsafe retries after its pause and lands on the calm screen again.
    clock.advance(c.ui.timeouts.failsafe_recover_s + 1)
    assert run_until(c, lambda: c.state is State.ATTENDANT_NEEDED and c.flow.counters["failsafe"] >= 2, 40)
    small_disk.free()
    clock.advance(c.ui.timeouts.failsafe_recover_s + 1)
    assert run_until(c, lambda: c.state is State.REVIEW, 40, stop_at=frozenset({State.REVIEW})), c.state
    assert c.session is not None and c.session.id == sid, "the same guest goes on"
    finish_session(c)
    rec = kiosk.store.journal.get(sid)
    assert rec is not None and {Step.CAPTURED, Step.PROCESSED, Step.DELIVERED} <= {s for s, _ in rec.history}
    assert not temp_files(small_disk.folder / "data")


def test_store_write_on_a_full_disk_raises_storage_full_and_leaves_nothing(small_disk: FullDisk) -> None:
    data = small_disk.folder / "store"
    with SessionStore(data) as store:
        s = store.create()
        small_disk.fill()
        with pytest.raises(StorageFull, match="disk full"):
            store.write_file(s.id, "capture", "shot.jpg", os.urandom(256 * 1024))
        assert store.files(s.id) == [] and not temp_files(data)
        small_disk.free()
        path = store.write_file(s.id, "capture", "shot.jpg", b"x" * 1000)
        assert path.read_bytes() == b"x" * 1000 and len(store.files(s.id)) == 1
