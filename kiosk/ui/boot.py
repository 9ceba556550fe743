"""Kivy start-up settings, applied before the first Kivy import (Kivy reads them at import time)."""

from __future__ import annotations

import os
import tempfile


def prepare_kivy(width: int, height: int, fullscreen: bool = False, kivy_home: str | None = None) -> None:
    """Set Kivy's environment and window config; call before importing kiosk.ui.app.

    Args:
        width: window width, px (ignored when fullscreen).
        height: window height, px.
        fullscreen: fill the screen (kiosk mode).
        kivy_home: Kivy's settings folder (default: a private temp folder, so no ~/.kivy is written).
    """
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    # PYTHON mode: Kivy logs through the standard logging tree and leaves sys.stderr alone, so
    # tracebacks and the CLI's error lines stay visible.
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_HOME", kivy_home or tempfile.mkdtemp(prefix="kiosk-kivy-"))
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "borderless", "1" if fullscreen else "0")
    Config.set("graphics", "show_cursor", "0" if fullscreen else "1")
    Config.set("graphics", "maxfps", "60")
    # No multisampling: the UI is flat shapes and text; MSAA would multiply the fill cost per frame
    # (several times over with a software GL).
    Config.set("graphics", "multisamples", "0")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")
