"""Start the touchscreen app (`kiosk run`, and `kiosk demo` with a display); Kivy loads only in here."""

from __future__ import annotations

import logging
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.errors import InputError
from kiosk.session.flow import State

log = logging.getLogger(__name__)
DEMO_BRIDGE_URL = "sim://demo?wire=0"


def have_display() -> bool:
    """Whether a graphical display is available ($DISPLAY or $WAYLAND_DISPLAY)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def window_size(cfg: KioskConfig, size: str | None) -> tuple[int, int]:
    """Window size from --size WxH, else from the config (orientation, window_width/height)."""
    if size:
        try:
            w, h = (int(v) for v in size.lower().split("x"))
        except ValueError as err:
            raise InputError(f"--size {size!r} is not WIDTHxHEIGHT, e.g. 1080x1920") from err
        if not (320 <= w <= 7680 and 320 <= h <= 7680):
            raise InputError(f"--size {size}: each side must be 320..7680 px")
        return w, h
    w, h = cfg.ui.window_width, cfg.ui.window_height
    if (cfg.ui.orientation == "landscape" and w < h) or (cfg.ui.orientation == "portrait" and w > h):
        w, h = h, w
    return w, h


def demo_parts(cfg: KioskConfig) -> tuple[Any, Any]:
    """The demo's virtual camera (bundled portrait, gentle motion) and the simulated bridge's lights."""
    from kiosk.camera.config import VirtualCameraConfig
    from kiosk.camera.virtual import VirtualCamera
    from kiosk.lights import BridgeLights, NoopLights
    from kiosk.ui.config import LightsConfig

    source = cfg.camera.source if cfg.camera.backend == "virtual" else None
    camera = VirtualCamera(VirtualCameraConfig(source=source))
    try:
        from firmware_bridge.sim import start

        start(DEMO_BRIDGE_URL)
        lights: Any = BridgeLights(LightsConfig(port_url=DEMO_BRIDGE_URL))
    except ImportError:
        lights = NoopLights()
    return camera, lights


def copy_results_on_delivery(controller: Any, out_dir: Path) -> None:
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
    schedule: Callable[[Callable[[], None]], None],
    hangup: Callable[[], None] | None = None,
) -> Iterator[None]:
    """While inside: SIGTERM / SIGINT stop the app cleanly (exit 0) instead of killing it mid-write.

    The handler only schedules `stop` on the UI clock: the app's on_stop then puts the lights in their safe
    state, stops the camera, the framing and processing workers (and the generation worker process), closes
    delivery and the journal. The previous handlers are restored on exit.

    Args:
        stop: what stops the app (KioskApp.stop).
        schedule: runs a callable on the UI thread soon (Kivy's Clock.schedule_once).
        hangup: when given, SIGHUP schedules it (the config reload); otherwise SIGHUP is left as it was.
    """
    requested: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        if requested:
            return  # already stopping; a second Ctrl-C must not interrupt the clean shutdown
        requested.append(signum)
        log.info("kiosk stopping on %s", signal.Signals(signum).name)
        schedule(stop)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    if hangup is not None:
        reload_cb = hangup

        def on_hup(_signum: int, _frame: Any) -> None:
            if not requested:
                log.info("SIGHUP: checking the config file again")
                schedule(reload_cb)

        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if requested:
            log.info("kiosk stopped cleanly (%s)", signal.Signals(requested[0]).name)


def run_app(
    cfg: KioskConfig,
    *,
    fullscreen: bool,
    size: tuple[int, int],
    camera: Any = None,
    lights: Any = None,
    results_to: Path | None = None,
    reload_on_hangup: bool = False,
    config_path: str | None = None,
) -> int:
    """Open the kiosk window and run until the operator leaves kiosk mode (or the window closes).

    Returns 0, or EXIT_RESTART when a SIGHUP brought a valid new config (with reload_on_hangup): the
    caller starts the kiosk again with it (see kiosk.appliance.HangupReload).
    """
    if not have_display():
        raise InputError("no display ($DISPLAY is not set): run this on the kiosk's screen, or use `kiosk demo`")
    from kiosk.ui.boot import prepare_kivy

    prepare_kivy(size[0], size[1], fullscreen=fullscreen)
    from kiosk.ui.app import KioskApp
    from kiosk.ui.i18n import Texts
    from kiosk.ui.wiring import build_controller

    texts = Texts(list(cfg.ui.languages), cfg.ui.i18n_dir)
    controller = build_controller(cfg, camera=camera, lights=lights)
    if results_to is not None:
        copy_results_on_delivery(controller, results_to)
    app = KioskApp(controller, texts, brand_color=cfg.pipeline.brand_color, cjk_font=cfg.ui.cjk_font)
    from kiosk.appliance import EXIT_RESTART, ConfigKeeper, HangupReload, attach_to_app

    appliance = attach_to_app(app, controller, cfg)  # journal, retention sweeper, log file, sd_notify
    from kivy.clock import Clock

    reloader = None
    if reload_on_hangup:
        reloader = HangupReload(ConfigKeeper(config_path, cfg), controller, appliance, app.stop, Clock)
        app.reloader = reloader  # Kivy's Clock holds its poll weakly
    hangup = reloader.on_hangup if reloader is not None else None
    with stop_on_signals(app.stop, lambda fn: Clock.schedule_once(lambda _dt: fn(), 0), hangup):
        app.run()
    return EXIT_RESTART if reloader is not None and reloader.restart else 0
