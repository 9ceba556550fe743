"""Run by test_guest_landscape.py in its own process, on its own X server: the kiosk as `kiosk run` opens it.

Full screen with `orientation = "auto"` (the default) on whatever screen $DISPLAY has; prints one JSON line
(the size chosen before the window existed, the window's size, the layout) and saves screenshots.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path


def main(shots: Path) -> None:
    """Open, tap once, photograph the attract and language screens, report."""
    from kiosk.config import KioskConfig, default_data_dir
    from kiosk.ui.boot import prepare_kivy
    from kiosk.ui.runner import window_size

    data = Path(tempfile.mkdtemp(prefix="kiosk-landscape-"))
    (data / "models").symlink_to(default_data_dir() / "models")
    cfg = KioskConfig(data_dir=data)
    size = window_size(cfg, None, fullscreen=True)
    prepare_kivy(*size, fullscreen=True)
    from kivy.base import EventLoop
    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch

    from kiosk.app.assemble import Overrides, assemble
    from kiosk.camera.config import VirtualCameraConfig
    from kiosk.camera.virtual import VirtualCamera
    from kiosk.delivery.ports import NoPrinter, OfflineDownloads
    from kiosk.i18n import Texts
    from kiosk.lights import NoopLights
    from kiosk.ui.app import KioskApp

    parts = assemble(cfg, Overrides(camera=VirtualCamera(VirtualCameraConfig()), lights=NoopLights(),
                                    downloads=OfflineDownloads(), printer=NoPrinter(), sweeper=False))
    app = KioskApp(parts.controller, Texts(list(cfg.ui.languages)), transition_s=0)
    app._run_prepare()

    def pump(until: float) -> None:
        end = time.monotonic() + until
        while time.monotonic() < end:
            EventLoop.idle()

    pump(1.0)
    app.save_screenshot(shots / "guest-landscape-attract.png")
    landscape = app.current_screen().m.landscape
    touch = UnitTestTouch(Window.width / 2, Window.height / 2)
    touch.touch_down()
    EventLoop.idle()
    touch.touch_up()
    pump(1.0)
    app.save_screenshot(shots / "guest-landscape-language.png")
    print(json.dumps({"chosen": list(size), "window": [int(Window.width), int(Window.height)],
                      "landscape": landscape, "state": parts.controller.state.value}))
    app.stop()
    EventLoop.idle()
    parts.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
