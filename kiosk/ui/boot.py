"""Kivy start-up settings, applied before the first Kivy import (Kivy reads them at import time)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import tempfile

log = logging.getLogger(__name__)


def x_screen_size(display: str | None = None) -> tuple[int, int] | None:
    """The X server's screen size in px (libX11, before any window exists), or None without an X display.

    Read straight from the server, so it is right without a window manager (the kiosk's X unit runs none),
    where a window asked for at the wrong size is neither moved nor resized.
    """
    name = display or os.environ.get("DISPLAY")
    lib = ctypes.util.find_library("X11")
    if not name or lib is None:
        return None
    x11 = ctypes.CDLL(lib)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultScreen.argtypes = [ctypes.c_void_p]
    x11.XDisplayWidth.argtypes = x11.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(name.encode())
    if not dpy:
        log.warning("cannot open X display %s to read the screen size", name)
        return None
    try:
        screen = x11.XDefaultScreen(dpy)
        return int(x11.XDisplayWidth(dpy, screen)), int(x11.XDisplayHeight(dpy, screen))
    finally:
        x11.XCloseDisplay(dpy)


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
    # Full screen is a borderless window of the screen's own size at its origin (runner.window_size reads
    # it from the X server): without a window manager nothing else would place or size it.
    Config.set("graphics", "fullscreen", "0")
    Config.set("graphics", "borderless", "1" if fullscreen else "0")
    if fullscreen:
        Config.set("graphics", "position", "custom")
        Config.set("graphics", "left", "0")
        Config.set("graphics", "top", "0")
    Config.set("graphics", "show_cursor", "0" if fullscreen else "1")
    Config.set("graphics", "maxfps", "60")
    # No multisampling: the UI is flat shapes and text; MSAA would multiply the fill cost per frame
    # (several times over with a software GL).
    Config.set("graphics", "multisamples", "0")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")
