"""Helpers of the guest-screen tests: raw touches, widget rectangles, text contrast measured on screenshots."""

from __future__ import annotations

from typing import Any

import numpy as np

from kiosk.session.flow import State

Rect = tuple[float, float, float, float]  # x, y, w, h in window px, y up (Kivy)


def raw_tap(ui: Any, x: float, y: float) -> None:
    """A touch down and up at (x, y) with no wait for the tap guard (what a guest's quick finger does)."""
    from kivy.tests.common import UnitTestTouch

    t = UnitTestTouch(x, y)
    t.touch_down()
    ui.pump(1)
    t.touch_up()
    ui.pump(1)


def rect(w: Any) -> Rect:
    """A widget's rectangle in window px."""
    x, y = w.to_window(w.x, w.y)
    return float(x), float(y), float(w.width), float(w.height)


def overlap(a: Rect, b: Rect) -> bool:
    """Whether two rectangles share any area."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def to_session_state(ui: Any, want: State, lang: str = "en") -> None:
    """From the attract screen by touch to `want` (framing held: no auto-capture; the shutter button takes it).

    Stopped at FRAMING, auto-capture stays held: `release_framing(ui)` ends that.
    """
    import dataclasses

    c = ui.c
    ui.to_attract()
    ui.touch_at(540 if ui.app.sm.current_screen.width < 1500 else 960, 900)
    ui.wait_state("language")
    if want is State.LANGUAGE:
        return
    ui.tap("language", lang)
    ui.wait_state("consent")
    if want is State.CONSENT:
        return
    ui.held_targets = c.framing.targets
    c.framing.targets = dataclasses.replace(ui.held_targets, stillness_s=1e9)
    ui.tap("agree")
    ui.wait_state("framing")
    if want is State.FRAMING:
        return
    try:
        assert ui.until(lambda: c.framing_result is not None and c.framing_result.box is not None, 20)
        ui.tap("shoot")
        ui.wait_state("review", 20)
    finally:
        release_framing(ui)
    if want is State.REVIEW:
        return
    ui.tap("approve")
    ui.wait_state("style")


def release_framing(ui: Any) -> None:
    """Auto-capture as configured again (after to_session_state(ui, State.FRAMING))."""
    ui.c.framing.targets = ui.held_targets


def luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB uint8 pixels (..., 3)."""
    c = rgb.astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def text_contrast(shot: np.ndarray, r: Rect, inset: float = 0.0) -> tuple[float, int] | None:
    """The WCAG contrast of text against its background inside `r` of a screenshot, and its ink pixel count.

    The background is the rectangle's commonest colour; ink is every pixel that differs from it clearly;
    the text's colour is what its glyph cores reach (the 90th percentile of the ink's contrast: edges are
    anti-aliased, cores are not). None when nothing but background is there.

    Args:
        shot: RGB uint8, top row first (KioskApp.grab()).
        r: the label's rectangle in window px (y up).
        inset: px left out at each side (a button's rounded border).
    """
    h = shot.shape[0]
    x0, y0 = int(r[0] + inset), int(h - (r[1] + r[3]) + inset)
    x1, y1 = int(r[0] + r[2] - inset), int(h - r[1] - inset)
    patch = shot[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)].reshape(-1, 3)
    if patch.size == 0:
        return None
    colours, counts = np.unique(patch, axis=0, return_counts=True)
    bg = colours[counts.argmax()]
    lum = luminance(patch)
    lbg = float(luminance(bg[None, :])[0])
    ratio = (np.maximum(lum, lbg) + 0.05) / (np.minimum(lum, lbg) + 0.05)
    ink = ratio[np.abs(patch.astype(int) - bg.astype(int)).max(axis=1) > 24]
    if ink.size < 20:
        return None
    return float(np.percentile(ink, 90)), int(ink.size)
