"""Shared by every screen: sizes for the window (Metrics), the base screen (KScreen) and small layout helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from kiosk.ui.widgets import (
    BG,
    Btn,
    ImageView,
    StyleCard,
    Txt,
    paint_background,
)

if TYPE_CHECKING:
    from kiosk.ui.app import KioskApp


class Metrics:
    """Sizes for one window: `u` scales a 1080-px-wide design; touch targets never go under 48 px."""

    def __init__(self, width: int, height: int) -> None:
        """Derive sizes from the window size, px."""
        self.w, self.h = width, height
        self.landscape = width > height
        self.u = min(width, height) / 1080.0
        self.pad = 48 * self.u
        self.title = 76 * self.u
        self.body = 42 * self.u
        self.small = 34 * self.u
        self.button_h = max(48.0, 128 * self.u)
        self.button_text = 44 * self.u
        self.content_w = min(width - 2 * self.pad, 1400 * self.u)


class KScreen(Screen):
    """Base: a background colour and a centred column of content."""

    dark = False

    def __init__(self, app: KioskApp, m: Metrics, **kw: Any) -> None:
        """Build the screen's widgets for the metrics m."""
        super().__init__(**kw)
        self.app = app
        self.m = m
        if not self.dark:  # dark screens show the window's clear colour (one fill less per frame)
            paint_background(self, BG)
        self.build()

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
        for w in self.walk():
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
