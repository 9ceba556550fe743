"""Shared by every screen: sizes for the window (Metrics), the base screen (KScreen) and small layout helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from kiosk.ui.panels import Overlay
from kiosk.ui.widgets import (
    BG,
    MUTED,
    Btn,
    ImageView,
    StyleCard,
    Txt,
    paint_background,
)

if TYPE_CHECKING:
    from kiosk.ui.app import KioskApp


Slot = tuple[float, float, float, float]  # x, y, width, height in window px


class Metrics:
    """Sizes for one window: `u` scales a 1080-px-wide design; touch targets never go under 48 px.

    Every guest screen puts its buttons in the same few slots (`slot()`): the main action bottom-right, a
    way out (cancel) bottom-left, a second row above them. So a tap meant for one screen's button that lands
    on the next screen (a double tap, an auto-advance) meets a button of the same kind, never a cancel.
    """

    def __init__(self, width: int, height: int, text_scale: float = 1.0) -> None:
        """Derive sizes from the window size, px; text_scale > 1 is the guest's "Larger text"."""
        self.w, self.h = width, height
        self.landscape = width > height
        self.text_scale = text_scale
        self.u = min(width, height) / 1080.0
        self.pad = 48 * self.u
        self.title = 76 * self.u * text_scale
        self.body = 42 * self.u * text_scale
        self.small = 34 * self.u * text_scale
        self.button_h = max(48.0, 128 * self.u * (1 + (text_scale - 1) * 0.6))
        self.button_text = 44 * self.u * text_scale
        self.content_w = min(width - 2 * self.pad, 1400 * self.u)
        # The slots' band: the whole width in portrait; the right 40 % in landscape (beside the photo or the
        # camera picture, under the text column).
        self.slot_x0 = self.pad if not self.landscape else width * 0.6 + self.pad * 0.3
        self.slot_x1 = width - (self.pad if not self.landscape else self.pad * 0.6)
        self.slot_y0 = self.pad * 0.8
        self.gap = self.pad * 0.5
        self.footer_h = self.slot_y0 + self.button_h + self.gap  # what content leaves free at the bottom
        self.footer2_h = self.footer_h + self.button_h + self.gap  # ... with the second row

    def slot(self, name: str) -> Slot:
        """Where a slot's button goes: "left" (a way out), "right" (the main action), "left2", "right2"."""
        band = self.slot_x1 - self.slot_x0
        y = self.slot_y0 + (self.button_h + self.gap if name.endswith("2") else 0.0)
        if name.startswith("left"):
            return self.slot_x0, y, band * 0.42, self.button_h
        return self.slot_x1 - band * 0.54, y, band * 0.54, self.button_h


class KScreen(Screen):
    """Base: a background colour and a centred column of content."""

    dark = False

    def __init__(self, app: KioskApp, m: Metrics, **kw: Any) -> None:
        """Build the screen's widgets for the metrics m."""
        super().__init__(**kw)
        self.app = app
        self.m = m
        self.overlay: Overlay | None = None
        self.overlay_kind: str | None = None
        if not self.dark:  # dark screens show the window's clear colour (one fill less per frame)
            paint_background(self, BG)
        self.build()

    # -- touches ---------------------------------------------------------------------------------
    def on_touch_down(self, touch: Any) -> bool:
        """Ignore touches while the screen (or a dialog on it) is new: `ui.tap_guard_s` after it appeared."""
        if self.app.guarded():
            return True
        return self.touched(touch)

    def touched(self, touch: Any) -> bool:
        """A touch past the guard time (screens that react to a tap anywhere override this)."""
        return bool(super().on_touch_down(touch))

    def place(self, widget: Btn, slot: str) -> Btn:
        """Put a button in one of the slots every guest screen shares (Metrics.slot), over the layout."""
        x, y, w, h = self.m.slot(slot)
        widget.size_hint = (None, None)
        widget.pos, widget.size = (x, y), (w, h)
        widget.slot = slot
        self.add_widget(widget)  # a Screen is a RelativeLayout at the window's origin: these are window px
        return widget

    # -- dialogs ---------------------------------------------------------------------------------
    def set_overlay(self, kind: str | None) -> None:
        """Show the dialog `kind` over the screen ("still", or one the screen makes), or none."""
        if kind == self.overlay_kind:
            return
        if self.overlay is not None:
            self.remove_widget(self.overlay)
        self.overlay, self.overlay_kind = None, kind
        if kind is not None:
            self.overlay = self.make_overlay(kind)
            if self.overlay is not None:
                self.add_widget(self.overlay)

    def make_overlay(self, kind: str) -> Overlay | None:
        """The dialog `kind`: "Still there?" here; screens add their own confirmations."""
        if kind != "still":
            return None
        more = self.btn("still.more_time", "more_time", primary=False)
        return self.dialog("still.title", [(more, "right")], dim=True,
                           on_outside=lambda: self.app.on_tap("continue", ""))

    def dialog(self, title_key: str, buttons: list[tuple[Btn, str]], dim: bool,
               on_outside: Any = None, lines: int = 3) -> Overlay:  # fmt: skip
        """A card over the slots: a title, `lines` lines of text below it (`overlay.line`), buttons in slots."""
        m = self.m
        text_h = m.title * 1.5 + m.body * 1.2 * lines
        top = m.slot_y0 + m.button_h + m.gap + text_h
        card = (m.slot_x0 - m.gap, m.slot_y0 - m.gap, m.slot_x1 - m.slot_x0 + 2 * m.gap, top - m.slot_y0 + 2 * m.gap)
        ov = Overlay(card, dim=dim, on_outside=on_outside)
        texts = BoxLayout(orientation="vertical", size_hint=(None, None), spacing=m.gap * 0.4,
                          pos=(m.slot_x0, m.slot_y0 + m.button_h + m.gap), size=(m.slot_x1 - m.slot_x0, text_h))
        texts.add_widget(spacer())
        title = label(title_key, m.title, bold=True, auto_height=True)
        title.text = self.t(title_key)
        texts.add_widget(title)
        ov.line = Txt("", size_px=m.body, color=MUTED, auto_height=True)
        if lines:
            texts.add_widget(ov.line)
        ov.add_widget(texts)
        for b, slot in buttons:
            x, y, w, h = m.slot(slot)
            b.size_hint, b.pos, b.size = (None, None), (x, y), (w, h)
            b.slot = slot
            ov.add_widget(b)
        return ov

    def update_overlay(self) -> None:
        """Per-frame text of the dialog shown (the "Still there?" countdown)."""
        if self.overlay_kind == "still" and self.overlay is not None:
            left = self.app.controller.flow.still_there()
            self.overlay.line.text = self.t("still.body", s=max(1, int(np.ceil(left or 0))))

    def t(self, key: str, fallback: str | None = None, **fmt: object) -> str:
        """Text in the guest's language (see Texts.t)."""
        return self.app.t(key, fallback, **fmt)

    def column(self, spacing: float | None = None) -> BoxLayout:
        """A vertical layout centred horizontally at content width."""
        m = self.m
        col = BoxLayout(
            orientation="vertical",
            size_hint=(None, 1),
            width=m.content_w,
            pos_hint={"center_x": 0.5},
            padding=(0, m.pad * 1.5),
            spacing=spacing if spacing is not None else m.pad * 0.6,
        )
        root = FloatLayout()
        root.add_widget(col)
        self.add_widget(root)
        return col

    def btn(self, key: str, action: str, arg: str = "", primary: bool = True, **kw: Any) -> Btn:
        """A button labelled with the text `key`."""
        m = self.m
        b = Btn(
            self.t(key) if key else "",
            action,
            self.app.on_tap,
            arg=arg,
            primary=primary,
            size_px=m.button_text,
            size_hint_y=None,
            height=m.button_h,
            **kw,
        )
        b.text_key = key
        return b

    def build(self) -> None:
        """Create widgets (called once per layout)."""

    def refresh(self) -> None:
        """Re-read texts (language) and state when the screen is shown."""
        for w in self.walk(restrict=True):
            key = getattr(w, "text_key", None)
            if key:
                w.text = self.t(key, **getattr(w, "text_fmt", {}))

    def update(self, dt: float) -> None:
        """Per-frame changes while shown."""

    def forget_guest(self) -> None:
        """Drop any image of the last guest (called when the kiosk returns to the attract screen)."""
        for w in self.walk():
            if isinstance(w, ImageView):
                w.clear()
            elif isinstance(w, StyleCard):
                w.clear_thumb()


def spacer(h: float | None = None) -> Widget:
    """Flexible (or fixed-height) empty space."""
    return Widget(size_hint_y=None, height=h) if h is not None else Widget()


def label(key: str, size: float, **kw: Any) -> Txt:
    """A Txt whose text comes from i18n key at refresh()."""
    t = Txt("", size_px=size, **kw)
    t.text_key = key
    return t
