"""sd_notify over a real unix datagram socket (as systemd's), the watchdog's health gating, the log file."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.app.appliance import Notifier, Watchdog, setup_file_logging


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """The receiving end systemd would hold: a bound AF_UNIX datagram socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(2.0)
    try:
        yield sock
    finally:
        sock.close()


def received(sock: socket.socket) -> list[dict[str, str]]:
    """Every datagram waiting on the socket, parsed into KEY=VALUE mappings."""
    out = []
    sock.setblocking(False)
    try:
        while True:
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                return out
            out.append(dict(line.split("=", 1) for line in data.decode().splitlines()))
    finally:
        sock.settimeout(2.0)


def test_ready_status_and_stopping_reach_the_socket(systemd_socket: socket.socket) -> None:
    n = Notifier.from_env({"NOTIFY_SOCKET": systemd_socket.getsockname()})
    assert n.enabled and n.watchdog_interval_s is None
    assert n.ready("attract screen up")
    assert n.status("12 sessions\nnew line folded")
    assert n.stopping()
    msgs = received(systemd_socket)
    assert msgs == [
        {"READY": "1", "STATUS": "attract screen up"},
        {"STATUS": "12 sessions new line folded"},
        {"STOPPING": "1", "STATUS": "stopping"},
    ]


def test_a_full_queue_drops_the_message_instead_of_blocking_the_ui(systemd_socket: socket.socket) -> None:
    """A unix datagram queue holds net.unix.max_dgram_qlen (often 10) messages: when systemd does not drain
    it, notify() returns False at once (a blocking send would freeze the UI thread that pings)."""
    n = Notifier.from_env({"NOTIFY_SOCKET": systemd_socket.getsockname()})
    results = [n.watchdog() for _ in range(2000)]  # far beyond any queue length or buffer
    assert results[0] is True and results[-1] is False
    assert n.errors == results.count(False) > 0
    assert len(received(systemd_socket)) == n.sent
    assert n.watchdog(), "sends again once the queue is drained"


def test_abstract_socket_address() -> None:
    name = f"hk-notify-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        assert Notifier("@" + name).ready()
        assert sock.recv(100) == b"READY=1"


def test_without_systemd_every_call_is_a_quiet_no_op(tmp_path: Path) -> None:
    n = Notifier.from_env({})
    assert not n.enabled and not n.ready() and not n.watchdog()
    gone = Notifier(str(tmp_path / "nobody-listens.sock"))
    assert not gone.ready() and gone.errors == 1, "a dead socket is counted, never raised"


def test_watchdog_interval_only_for_our_pid() -> None:
    ours = Notifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())})
    assert ours.watchdog_interval_s == 10.0
    other = Notifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval_s is None
    assert Notifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "junk"}).watchdog_interval_s is None


def test_watchdog_pings_from_the_main_loop_only_when_due_ready_and_healthy(
    systemd_socket: socket.socket,
) -> None:
    clock = FakeClock()
    healthy = {"ui": True}
    n = Notifier(systemd_socket.getsockname(), watchdog_usec=4_000_000)  # WatchdogSec=4 → ping every 2 s
    wd = Watchdog(n, healthy=lambda: healthy["ui"], clock=clock)
    assert not wd.beat(), "no ping before READY"
    wd.ready("up")
    assert wd.beat() and not wd.beat(), "one ping, then not again until due"
    clock.t += 1.0
    assert not wd.beat()
    clock.t += 1.1
    assert wd.beat()
    healthy["ui"] = False
    clock.t += 2.1
    assert not wd.beat() and wd.withheld == 1, "an unhealthy kiosk is left to systemd's watchdog"
    clock.t += 2.1
    assert not wd.beat() and wd.withheld == 2
    healthy["ui"] = True
    assert wd.beat() and wd.withheld == 0, "pings resume as soon as the check passes"
    msgs = received(systemd_socket)
    assert msgs[0] == {"READY": "1", "STATUS": "up"}
    assert msgs[1:] == [{"WATCHDOG": "1"}] * 3
    assert wd.pings == 3


def test_a_raising_health_check_withholds_the_ping(systemd_socket: socket.socket) -> None:
    def camera_thread_alive() -> bool:
        raise RuntimeError("thread died")

    wd = Watchdog(Notifier(systemd_socket.getsockname(), 2_000_000), healthy=[lambda: True, camera_thread_alive])
    wd.ready()
    assert not wd.beat()
    assert wd.last_failure is not None and "thread died" in wd.last_failure


def test_status_is_sent_when_it_changes_at_most_every_status_period(systemd_socket: socket.socket) -> None:
    clock = FakeClock()
    wd = Watchdog(Notifier(systemd_socket.getsockname()), clock=clock, status_every_s=30.0)
    wd.ready("ready")
    wd.beat("1 session")  # too soon after READY's status
    clock.t += 31
    wd.beat("1 session")
    wd.beat("2 sessions")  # too soon again
    clock.t += 31
    wd.beat("2 sessions")
    assert [m.get("STATUS") for m in received(systemd_socket)] == ["ready", "1 session", "2 sessions"]


def test_rotating_log_file_rotates_and_redacts(tmp_path: Path) -> None:
    from kiosk.privacy import forget_sensitive, register_sensitive

    handler = setup_file_logging(tmp_path, max_bytes=2000, backups=2)
    logger = logging.getLogger("kiosk.test_appliance")
    register_sensitive("guest@example.org")
    try:
        for i in range(100):
            logger.warning("line %03d mailed to guest@example.org", i)
    finally:
        forget_sensitive("guest@example.org")
        logging.getLogger().removeHandler(handler)
        handler.close()
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert logs == ["kiosk.log", "kiosk.log.1", "kiosk.log.2"], "rotated and capped at 2 backups"
    text = "".join((tmp_path / "logs" / n).read_text() for n in logs)
    assert "line 099" in text and "guest@example.org" not in text
    assert all((tmp_path / "logs" / n).stat().st_size <= 2200 for n in logs)
