"""Panels over and inside the guest screens: a dialog (Overlay) and the delivery's before/after reveal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from kivy.graphics import Color, Rectangle, RoundedRectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.label import Label

from kiosk.ui.widgets import CARD, LINE, MUTED, ImageView, Txt


class Overlay(FloatLayout):
    """A dialog over a screen: an optional dim veil, a white card, and what the screen adds; takes every touch."""

    def __init__(self, card: tuple[float, float, float, float], dim: bool,
                 on_outside: Callable[[], None] | None = None, **kw: Any) -> None:  # fmt: skip
        """Args: card is the card's (x, y, w, h) in window px; on_outside runs for a touch off every button."""
        super().__init__(**kw)
        self.on_outside = on_outside
        self.line: Label = Label(text="")  # the line under the title (the screen puts its own in place)
        x, y, w, h = card
        with self.canvas.before:
            Color(0, 0, 0, 0.5 if dim else 0.0)
            self._veil = Rectangle(pos=self.pos, size=self.size)
            Color(*LINE)
            RoundedRectangle(pos=(x - 2, y - 2), size=(w + 4, h + 4), radius=[28])
            Color(*CARD)
            RoundedRectangle(pos=(x, y), size=(w, h), radius=[26])
        self.bind(pos=self._layout, size=self._layout)

    def _layout(self, *_: Any) -> None:
        self._veil.pos, self._veil.size = self.pos, self.size

    def on_touch_down(self, touch: Any) -> bool:
        """Buttons first; any other touch is the dialog's (nothing under it is pressed)."""
        if super().on_touch_down(touch):
            return True
        if self.on_outside is not None:
            self.on_outside()
        return True


class BeforeAfter(BoxLayout):
    """The reveal: the guest's framed capture, then their headshot fading in over it; every format below.

    `step(dt)` runs the short sequence (REVEAL_HOLD_S on the "before", REVEAL_FADE_S to the "after") and
    says which of the two the caption should name.
    """

    REVEAL_HOLD_S = 1.2
    REVEAL_FADE_S = 0.8

    def __init__(self, caption_px: float, **kw: Any) -> None:
        """Empty; `start()` gives it pictures. Args: caption_px is the caption's font size, px."""
        super().__init__(orientation="vertical", spacing=caption_px * 0.3, **kw)
        self.caption_px = caption_px
        stage = FloatLayout()
        self.before = ImageView(pos_hint={"x": 0, "y": 0})
        self.after = ImageView(pos_hint={"x": 0, "y": 0})
        stage.add_widget(self.before)
        stage.add_widget(self.after)
        self.caption = Txt("", size_px=caption_px, bold=True, color=MUTED, auto_height=True)
        self.strip = BoxLayout(orientation="horizontal", spacing=caption_px * 0.5, size_hint_y=None, height=0)
        for w in (stage, self.caption, self.strip):
            self.add_widget(w)
        self.t = 0.0
        self.formats: list[str] = []

    def start(self, before: np.ndarray | None, results: list[tuple[str, str, np.ndarray]]) -> None:
        """Begin the reveal: `before` (the framed capture, or None) then the first result.

        Args:
            before: the framed capture, BGR uint8, or None to show the result at once.
            results: (format name, its label, BGR uint8 image) of every format the session made.
        """
        self.t = 0.0 if before is not None else self.REVEAL_HOLD_S + self.REVEAL_FADE_S
        if before is not None:
            self.before.show(np.ascontiguousarray(before))
        if results:
            self.after.show(results[0][2])
        self.formats = [name for name, _label, _img in results]
        self.strip.clear_widgets()
        self.strip.height = self.caption_px * 6.5 if len(results) > 1 else 0
        for _name, text, img in results if len(results) > 1 else []:
            cell = BoxLayout(orientation="vertical", spacing=4)
            view = ImageView()
            view.show(img)
            cell.add_widget(view)
            cell.add_widget(Txt(text, size_px=self.caption_px * 0.8, color=MUTED, auto_height=True))
            self.strip.add_widget(cell)
        self.step(0.0)

    def step(self, dt: float) -> str:
        """Advance the reveal by dt s; "before" or "after" (what the caption names)."""
        self.t += dt
        k = min(1.0, max(0.0, (self.t - self.REVEAL_HOLD_S) / self.REVEAL_FADE_S))
        if self.after.opacity != k:
            self.after.opacity = k
        return "after" if k >= 0.5 else "before"
