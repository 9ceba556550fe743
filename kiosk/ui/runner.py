"""Start the touchscreen app (`kiosk run`, and `kiosk demo` with a display); Kivy loads only in here."""

from __future__ import annotations

import logging
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from kiosk.config import KioskConfig
from kiosk.errors import InputError
from kiosk.session.flow import State

if TYPE_CHECKING:
    from kiosk.app.controller import KioskController
    from kiosk.camera.base import Camera
    from kiosk.lights import Lights

log = logging.getLogger(__name__)


def have_display() -> bool:
    """Whether a graphical display is available ($DISPLAY or $WAYLAND_DISPLAY)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def window_size(cfg: KioskConfig, size: str | None, fullscreen: bool = False) -> tuple[int, int]:
    """Window size from --size WxH, else the screen's (full screen), else the config's, turned to the orientation.

    `orientation = "auto"` follows the X server's screen (a landscape screen gets a landscape window); full
    screen takes the screen's exact size, read before any window exists (no window manager resizes it).
    """
    if size:
        try:
            w, h = (int(v) for v in size.lower().split("x"))
        except ValueError as err:
            raise InputError(f"--size {size!r} is not WIDTHxHEIGHT, e.g. 1080x1920") from err
        if not (320 <= w <= 7680 and 320 <= h <= 7680):
            raise InputError(f"--size {size}: each side must be 320..7680 px")
        return w, h
    from kiosk.ui.boot import x_screen_size

    screen = x_screen_size() if fullscreen or cfg.ui.orientation == "auto" else None
    if fullscreen and screen is not None:
        return screen
    w, h = cfg.ui.window_width, cfg.ui.window_height
    orientation = cfg.ui.orientation
    if orientation == "auto" and screen is not None:
        orientation = "landscape" if screen[0] > screen[1] else "portrait"
    if (orientation == "landscape" and w < h) or (orientation == "portrait" and w > h):
        w, h = h, w
    if screen is not None and (w > screen[0] or h > screen[1]):  # a window larger than the screen is cut off
        s = min(screen[0] / w, screen[1] / h)
        w, h = max(320, int(w * s)), max(320, int(h * s))
    return w, h


def copy_results_on_delivery(controller: KioskController, out_dir: Path) -> None:
    """Copy each session's results to out_dir when it reaches the delivery screen (demo output)."""

    def on_change(_old: State, new: State, _reason: str) -> None:
        sess = controller.session
        if new is State.DELIVERY and sess is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            for path in sess.results.values():
                shutil.copyfile(path, out_dir / path.name)
            log.info("results copied to %s", out_dir)

    controller.flow.listen(on_change)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(
    stop: Callable[[], None],
    every: Callable[[Callable[[float], None]], object],
    hangup: Callable[[], None] | None = None,
) -> Iterator[Callable[[float], None]]:
    """While inside: SIGTERM / SIGINT stop the app cleanly (exit 0) instead of killing it mid-write.

    A Python signal handler runs between two bytecodes of the main thread, which may be inside a logging
    handler's or Kivy's Clock lock at that moment: logging or scheduling from the handler can deadlock
    (seen: SIGTERM during the "kiosk ready" log line froze the kiosk). So the handlers only note the
    signal, and `act`, which the UI clock calls a few times a second, does the work on the UI thread: it
    logs and calls `stop` (the app's on_stop then puts the lights in their safe state, stops the camera, the
    framing and processing workers and the generation worker process, closes delivery and the journal) or
    `hangup` (the config reload). The previous handlers are restored on exit.

    Args:
        stop: what stops the app (KioskApp.stop).
        every: registers `act` to run on the UI thread repeatedly (a Clock.schedule_interval of ~0.1 s);
            the context holds `act` strongly (Kivy's Clock keeps only a weak reference).
        hangup: when given, SIGHUP runs it (the config reload); otherwise SIGHUP is left as it was.

    Yields:
        `act`, for loops that call it themselves.
    """
    noted: list[int] = []  # list.append is atomic: the only thing a handler does
    handled = {"stop": False, "hups": 0}

    def handler(signum: int, _frame: FrameType | None) -> None:
        noted.append(signum)

    def act(_dt: float = 0.0) -> None:
        stops = [s for s in noted if s != signal.SIGHUP]
        if stops and not handled["stop"]:
            handled["stop"] = True
            log.info("kiosk stopping on %s", signal.Signals(stops[0]).name)
            stop()
            return
        hups = noted.count(signal.SIGHUP)
        if hangup is not None and hups > handled["hups"] and not handled["stop"]:
            handled["hups"] = hups
            log.info("SIGHUP: checking the config file again")
            hangup()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    if hangup is not None:
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, handler)
    every(act)
    try:
        yield act
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if handled["stop"]:
            first = next(s for s in noted if s != signal.SIGHUP)
            log.info("kiosk stopped cleanly (%s)", signal.Signals(first).name)


def run_app(
    cfg: KioskConfig,
    *,
    fullscreen: bool,
    size: tuple[int, int],
    camera: Camera | None = None,
    lights: Lights | None = None,
    results_to: Path | None = None,
    reload_on_hangup: bool = False,
    config_path: str | None = None,
) -> int:
    """Open the kiosk window and run until the operator leaves kiosk mode (or the window closes).

    Returns 0, or EXIT_RESTART when a SIGHUP brought a valid new config (with reload_on_hangup): the
    caller starts the kiosk again with it (see kiosk.app.appliance.HangupReload).
    """
    if not have_display():
        raise InputError("no display ($DISPLAY is not set): run this on the kiosk's screen, or use `kiosk demo`")
    from kiosk.ui.boot import prepare_kivy

    prepare_kivy(size[0], size[1], fullscreen=fullscreen)
    from kiosk.app.assemble import Overrides, assemble
    from kiosk.i18n import Texts
    from kiosk.ui.app import KioskApp

    texts = Texts(list(cfg.ui.languages), cfg.ui.i18n_dir)
    parts = assemble(cfg, Overrides(camera=camera, lights=lights, config_path=config_path))
    reloader = None
    try:
        controller = parts.controller
        if results_to is not None:
            copy_results_on_delivery(controller, results_to)
        app = KioskApp(controller, texts, brand_color=cfg.pipeline.brand_color, cjk_font=cfg.ui.cjk_font)
        from kiosk.app.appliance import EXIT_RESTART, ConfigKeeper, HangupReload, attach_to_app

        appliance = attach_to_app(app, controller, cfg)  # log file, sd_notify READY and WATCHDOG
        from kivy.clock import Clock

        if reload_on_hangup:
            reloader = HangupReload(ConfigKeeper(config_path, cfg), controller, appliance, app.stop, Clock)
            app.reloader = reloader  # Kivy's Clock holds its poll weakly
        hangup = reloader.on_hangup if reloader is not None else None
        with stop_on_signals(app.stop, lambda act: Clock.schedule_interval(act, 0.1), hangup):
            app.run()
    finally:
        parts.close()  # the app's on_stop stopped the controller; delivery, sweeper and store close here
    return EXIT_RESTART if reloader is not None and reloader.restart else 0
