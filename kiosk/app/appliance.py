"""Running as an appliance: systemd readiness and watchdog (sd_notify), and the rotating log file.

sd_notify is the raw protocol, no library: one datagram of ``KEY=VALUE`` lines to the unix socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). Outside systemd the variable is unset
and every call is a no-op. `kiosk run` calls, after building the app and before ``app.run()``::

    attach_to_app(app, controller, cfg)

which adds the rotating log file, sends READY=1 on the first frame after the app started, and WATCHDOG=1
(with a STATUS line) from the Kivy clock every second (the store, the journal and the retention sweeper are
parts of kiosk.app.assemble). The parts, for other loops::

    wd = Watchdog(Notifier.from_env(), healthy=controller_health(controller))
    wd.ready("attract screen up")    # READY=1 once the first frame is on screen
    wd.beat(status_line(controller)) # from the main loop
    wd.stopping()

``WATCHDOG=1`` goes out only from :meth:`Watchdog.beat`, i.e. only while the main loop runs, at most every
half ``WatchdogSec`` (``$WATCHDOG_USEC``), and only while the health checks pass: a frozen UI thread or a
failing check stops the pings and systemd restarts the kiosk (``Restart=on-failure``).

Logs: systemd's journal keeps stderr (rotated by journald). ``setup_file_logging`` adds a
:class:`logging.handlers.RotatingFileHandler` (5 × 5 MiB by default) in ``<data_dir>/logs/kiosk.log`` for
sites that collect a file; the kiosk rotates it itself, so no logrotate rule is needed.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kiosk.app.controller import KioskController
    from kiosk.app.worker import ProcessingWorker
    from kiosk.camera.base import CameraThread
    from kiosk.config import KioskConfig
    from kiosk.session.framing_worker import FramingWorker


class Scheduler(Protocol):
    """The UI clock (kivy.clock.Clock, or a test's): run callbacks on the UI thread later or repeatedly."""

    def schedule_once(self, callback: Callable[[float], None], timeout: float = 0) -> object:
        """Call callback(dt) once after timeout s."""
        ...

    def schedule_interval(self, callback: Callable[[float], None], timeout: float) -> object:
        """Call callback(dt) every timeout s."""
        ...


class BindableApp(Protocol):
    """The Kivy app as the appliance sees it: its start/stop events, and a place to keep the appliance."""

    appliance: Appliance | None

    def bind(self, **handlers: Callable[..., object]) -> None:
        """Bind event handlers (on_start, on_stop)."""
        ...

log = logging.getLogger(__name__)

NOTIFY_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"
LOG_NAME = "kiosk.log"


class Notifier:
    """Sends sd_notify datagrams to systemd; a no-op when not started by systemd with Type=notify."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        """Remember the socket address (None: disabled).

        Args:
            address: $NOTIFY_SOCKET: a filesystem path or ``@abstract``.
            watchdog_usec: $WATCHDOG_USEC, the unit's WatchdogSec in µs (None: no watchdog).
        """
        self.address = address or None
        self.watchdog_usec = watchdog_usec
        self.sent: int = 0
        self.errors: int = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Notifier:
        """From the environment systemd sets; the watchdog only when $WATCHDOG_PID is unset or ours."""
        env = dict(os.environ) if env is None else env
        usec: int | None = None
        pid = env.get(WATCHDOG_PID_ENV)
        raw = env.get(WATCHDOG_USEC_ENV, "")
        if raw.isdigit() and int(raw) > 0 and (not pid or pid == str(os.getpid())):
            usec = int(raw)
        return cls(env.get(NOTIFY_ENV), usec)

    @property
    def enabled(self) -> bool:
        """Whether a notify socket is configured."""
        return self.address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half of WatchdogSec, as sd_watchdog_enabled(3) advises (None: no watchdog)."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2e6

    def notify(self, **fields: str | int) -> bool:
        """Send one datagram of KEY=VALUE lines (keys upper-cased); True when it was sent."""
        if self.address is None:
            return False
        lines = []
        for key, value in fields.items():
            text = str(value).replace("\n", " ")  # one line per field, always
            lines.append(f"{key.upper()}={text}")
        payload = "\n".join(lines).encode("utf-8", "replace")
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(target)
                # Never wait: this runs on the UI thread, and a unix datagram queue holds only
                # net.unix.max_dgram_qlen (10) messages. Should systemd not drain it, a ping is dropped
                # (the next goes a second later) instead of the kiosk's screen freezing.
                sock.send(payload, socket.MSG_DONTWAIT)
        except OSError as err:
            # systemd gone or the socket not ours: nothing to tell, and never a reason to stop the kiosk.
            self.errors += 1
            log.debug("sd_notify failed: %s", err)
            return False
        self.sent += 1
        return True

    def ready(self, status: str = "") -> bool:
        """READY=1 (start-up finished), with an optional STATUS line."""
        return self.notify(ready=1, status=status) if status else self.notify(ready=1)

    def status(self, text: str) -> bool:
        """STATUS=text (shown by `systemctl status`)."""
        return self.notify(status=text)

    def watchdog(self) -> bool:
        """WATCHDOG=1 (still alive)."""
        return self.notify(watchdog=1)

    def stopping(self, status: str = "stopping") -> bool:
        """STOPPING=1 (a clean shutdown has begun)."""
        return self.notify(stopping=1, status=status)


class Watchdog:
    """Pings systemd's watchdog from the main loop, only while every health check passes."""

    def __init__(
        self,
        notifier: Notifier,
        healthy: Callable[[], bool] | Iterable[Callable[[], bool]] = (),
        clock: Callable[[], float] = time.monotonic,
        status_every_s: float = 30.0,
    ) -> None:
        """Wire the notifier to health checks.

        Args:
            notifier: where the datagrams go.
            healthy: one check or several; WATCHDOG=1 is withheld while any returns False or raises.
            clock: monotonic seconds.
            status_every_s: least time between two STATUS updates, s.
        """
        self.notifier = notifier
        self.checks = [healthy] if callable(healthy) else list(healthy)
        self.clock = clock
        self.status_every_s = status_every_s
        self.is_ready = False
        self.pings = 0
        self.withheld = 0
        self.last_failure: str | None = None
        self._next_ping = 0.0
        self._next_status = 0.0
        self._last_status: str | None = None

    def ready(self, status: str = "ready") -> None:
        """The UI is up: READY=1 (once)."""
        if not self.is_ready:
            self.is_ready = True
            self.notifier.ready(status)
            self._last_status = status
            self._next_status = self.clock() + self.status_every_s
            log.info("kiosk ready (systemd notified: %s)", self.notifier.enabled)

    def healthy(self) -> bool:
        """Run the health checks; remember the first failure."""
        for check in self.checks:
            try:
                ok = bool(check())
            except Exception as err:  # noqa: BLE001  # reason: a broken check counts as unhealthy, never a crash
                ok = False
                self.last_failure = f"{getattr(check, '__name__', 'check')}: {type(err).__name__}: {err}"
            else:
                if not ok:
                    self.last_failure = getattr(check, "__name__", "check")
            if not ok:
                return False
        return True

    def beat(self, status: str | None = None) -> bool:
        """Call from the main loop (the UI clock): ping when due and healthy; True when a ping went out.

        Args:
            status: a short status line, sent when it changed (at most every `status_every_s`).
        """
        now = self.clock()
        if self.is_ready and status is not None and status != self._last_status and now >= self._next_status:
            self.notifier.status(status)
            self._last_status = status
            self._next_status = now + self.status_every_s
        interval = self.notifier.watchdog_interval_s
        if interval is None or not self.is_ready or now < self._next_ping:
            return False
        if not self.healthy():
            self.withheld += 1
            if self.withheld == 1 or self.withheld % 10 == 0:
                log.warning("watchdog ping withheld: %s", self.last_failure)
            return False
        self.withheld = 0
        self._next_ping = now + interval
        if self.notifier.watchdog():
            self.pings += 1
            return True
        return False

    def stopping(self) -> None:
        """A clean stop: STOPPING=1."""
        self.notifier.stopping()


def setup_file_logging(
    data_dir: Path, level: int = logging.INFO, max_bytes: int = 5 << 20, backups: int = 5
) -> logging.Handler:
    """Add a size-rotated log file under data_dir/logs to the root logger; return the handler.

    Args:
        data_dir: the kiosk data folder.
        level: the file's log level.
        max_bytes: rotate when the file passes this size, bytes.
        backups: rotated files kept (kiosk.log.1 … kiosk.log.N).
    """
    from kiosk.privacy import RedactingFilter

    folder = Path(data_dir) / "logs"
    folder.mkdir(parents=True, exist_ok=True, mode=0o750)
    handler = logging.handlers.RotatingFileHandler(
        folder / LOG_NAME, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
    )
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    return handler


class ConfigKeeper:
    """Reloads the config file on request, keeping the running config when the new one is invalid.

    A kiosk mid-event must not die because someone saved a typo: `reload()` validates the file with the
    same strict schema as start-up; on an error it logs the key at fault and keeps the last good config.
    """

    def __init__(self, path: str | os.PathLike[str] | None, current: KioskConfig) -> None:
        """Remember where the config comes from and the config running now."""
        self.path = path
        self.current = current
        self.last_error: str | None = None

    def reload(self) -> tuple[KioskConfig, str | None]:
        """(config to run with, error or None): the new config when valid, else the current one."""
        from kiosk.config import load_config, require_operator_pin
        from kiosk.errors import ConfigError

        try:
            fresh = load_config(self.path)
            require_operator_pin(fresh)  # `kiosk run` would refuse it at the restart in place
        except ConfigError as err:
            self.last_error = str(err)
            log.error("config reload refused, keeping the running config: %s", err)  # noqa: TRY400  # reason: a bad file, not a bug: no traceback
            return self.current, self.last_error
        self.current, self.last_error = fresh, None
        log.info("config reloaded")
        return fresh, None


def controller_health(controller: KioskController) -> list[Callable[[], bool]]:
    """Health checks of a running KioskController: its camera, framing and processing threads are alive."""

    def alive(part: CameraThread | FramingWorker | ProcessingWorker, name: str) -> Callable[[], bool]:
        def check() -> bool:
            return part.alive

        check.__name__ = f"{name} thread alive"
        return check

    return [
        alive(controller.camera, "camera"),
        alive(controller.framing, "framing"),
        alive(controller.worker, "processing"),
    ]


def status_line(controller: KioskController) -> str:
    """One line for `systemctl status`: the screen and the session counters (no guest data)."""
    c = controller.flow.counters
    return f"{controller.state.value}; sessions {c['sessions']}, completed {c['completed']}, failsafe {c['failsafe']}"


@dataclass
class Appliance:
    """What attach_to_app() started, for shutdown and the tests."""

    watchdog: Watchdog
    log_handler: logging.Handler | None
    # Kivy's Clock holds callbacks weakly: these strong references keep the watchdog ticking (a lambda
    # handed straight to schedule_interval was collected after a few seconds and the pings stopped).
    callbacks: list[Callable[..., None]] = field(default_factory=list)

    # Set by HangupReload before it stops the app to restart in place: RELOADING=1, not STOPPING=1.
    reloading: bool = False

    def stop(self) -> None:
        """STOPPING=1 (RELOADING=1 when restarting in place); the parts close in KioskParts.close()."""
        if self.reloading:
            self.watchdog.notifier.notify(reloading=1, status="restarting to apply the new config")
        else:
            self.watchdog.stopping()


def attach_to_app(
    app: BindableApp,
    controller: KioskController,
    cfg: KioskConfig,
    *,
    scheduler: Scheduler | None = None,
    notifier: Notifier | None = None,
    file_log: bool = True,
) -> Appliance:
    """Make a KioskApp an appliance: the log file, READY once the UI is up, WATCHDOG from its clock.

    Call it in `kiosk run` after building the app and before ``app.run()``.

    Args:
        app: the Kivy app (its on_start / on_stop events are bound).
        controller: the app's KioskController.
        cfg: the KioskConfig.
        scheduler: the clock with schedule_once/schedule_interval (default: kivy.clock.Clock).
        notifier: sd_notify target (default: from the environment).
        file_log: add the rotating log file under data_dir/logs.
    """
    if scheduler is None:
        from kivy.clock import Clock

        scheduler = Clock
    handler = setup_file_logging(cfg.data_dir) if file_log else None
    wd = Watchdog(notifier or Notifier.from_env(), healthy=controller_health(controller))
    appliance = Appliance(wd, handler)

    def ready(_dt: float) -> None:
        wd.ready(status_line(controller))

    def beat(_dt: float) -> None:
        wd.beat(status_line(controller))

    def on_start(*_: object) -> None:
        # The next frame is drawn with the attract screen on it: then we are up.
        scheduler.schedule_once(ready, 0)

    def on_stop(*_: object) -> None:
        appliance.stop()

    appliance.callbacks += [ready, beat, on_start, on_stop]
    scheduler.schedule_interval(beat, 1.0)
    app.bind(on_start=on_start, on_stop=on_stop)
    # The app owns the appliance for as long as it runs, whoever called us.
    app.appliance = appliance
    return appliance


# `kiosk run` exits with this to be started again: it re-executes itself in place (same PID), and should
# that fail, systemd's Restart=on-failure starts it (75 is EX_TEMPFAIL: "try again").
EXIT_RESTART = 75


class HangupReload:
    """SIGHUP (`systemctl reload headshot-kiosk`): read the config file again and apply it if it is valid.

    An invalid file is refused: the running config stays, and the error naming the key goes to the log and
    to `systemctl status`. A valid file that differs from the running config is applied by restarting
    `kiosk run` in place as soon as no guest is at the kiosk (the attract screen), so nobody's session is
    cut short, and every part (camera, bridge, printer, models, texts) is rebuilt from the new config by
    the same code as a cold start. A file that parses to the running config changes nothing.
    """

    def __init__(
        self, keeper: ConfigKeeper, controller: KioskController, appliance: Appliance, stop: Callable[[], None],
        scheduler: Scheduler, poll_s: float = 1.0,
    ) -> None:
        """Wire the reload.

        Args:
            keeper: holds the config path and the running config.
            controller: the KioskController (its state tells when the kiosk is idle).
            appliance: what attach_to_app() returned (its notifier; told to send RELOADING=1).
            stop: stops the app (KioskApp.stop); run_app then returns EXIT_RESTART.
            scheduler: the UI clock (schedule_once).
            poll_s: how often to look for the attract screen while a guest is still at the kiosk, s.
        """
        self.keeper = keeper
        self.running = keeper.current
        self.controller = controller
        self.appliance = appliance
        self.stop = stop
        self.scheduler = scheduler
        self.poll_s = poll_s
        self.restart = False
        self.pending = False

    def on_hangup(self) -> None:
        """Run on the UI thread after SIGHUP."""
        from kiosk.session.flow import State

        fresh, error = self.keeper.reload()
        notifier = self.appliance.watchdog.notifier
        if error is not None:
            notifier.status(f"config reload refused, running config kept: {error}")
            return
        if fresh == self.running:
            log.info("config file unchanged: nothing to apply")
            return
        if not self.pending:
            self.pending = True
            if self.controller.state is not State.ATTRACT:
                log.info("config changed: restarting to apply it once the guest has finished")
                notifier.status("new config waiting for the guest to finish")
            self._poll(0.0)

    def _poll(self, _dt: float) -> None:
        from kiosk.session.flow import State

        if self.restart:
            return
        if self.controller.state is not State.ATTRACT:
            self.scheduler.schedule_once(self._poll, self.poll_s)
            return
        log.info("config changed: restarting the kiosk in place to apply it")
        self.restart = True
        self.appliance.reloading = True
        self.stop()
