"""The station's steps: the employee id (typed, or a badge QR held to the camera) and the e-mail address.

Both screens type on the on-screen keyboard; the finished text goes to the controller as one tap
(``identity`` or ``email``), which validates it and stores it in the session store. The e-mail screen shows
the consent text beside an opt-in box that starts unticked, every session.
"""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Line, RoundedRectangle
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from kiosk.ui.keyboard import OnScreenKeyboard
from kiosk.ui.screens.base import KScreen, label, spacer
from kiosk.ui.widgets import CARD, LINE, MUTED, PRIMARY, WHITE, ImageView, Txt, hex_rgba

ERROR = hex_rgba("#9A3412")


class TickBox(ButtonBehavior, Widget):
    """A square opt-in box; `ticked` is drawn, a tap calls on_tap("optin", "")."""

    def __init__(self, on_tap: Any, **kw: Any) -> None:
        """An unticked box."""
        super().__init__(**kw)
        self.action, self.arg = "optin", ""
        self._on_tap = on_tap
        self.ticked = False
        with self.canvas:
            self._edge = Color(*LINE)
            self._box = RoundedRectangle(radius=[10])
            self._fill = Color(*CARD)
            self._inner = RoundedRectangle(radius=[8])
            self._ink = Color(*WHITE)
            self._tick = Line(width=4)
        self.bind(pos=self._layout, size=self._layout)

    def _layout(self, *_: Any) -> None:
        s = min(self.width, self.height)
        x, y = self.center_x - s / 2, self.center_y - s / 2
        self._box.pos, self._box.size = (x, y), (s, s)
        self._inner.pos, self._inner.size = (x + 4, y + 4), (s - 8, s - 8)
        self._tick.points = [x + s * 0.22, y + s * 0.52, x + s * 0.42, y + s * 0.3, x + s * 0.78, y + s * 0.72]

    def show(self, ticked: bool) -> None:
        """Draw the box ticked or not."""
        self.ticked = ticked
        self._fill.rgba = PRIMARY if ticked else CARD
        self._edge.rgba = PRIMARY if ticked else LINE
        self._ink.a = 1.0 if ticked else 0.0

    def on_release(self) -> None:
        """Forward the tap."""
        self._on_tap(self.action, self.arg)


class _TypingScreen(KScreen):
    """Shared by both steps: title, body, the typed text, an error line, a keyboard and two buttons."""

    prefix = ""
    layout = ""
    submit = ""

    def build(self) -> None:
        """The column above the footer slots, the keyboard at its foot."""
        m = self.m
        col = BoxLayout(orientation="vertical", size_hint=(None, 1), width=m.content_w,
                        pos_hint={"center_x": 0.5}, spacing=m.pad * 0.35,
                        padding=(0, m.pad, 0, m.footer_h + m.pad * 0.2))  # fmt: skip
        col.add_widget(label(f"{self.prefix}.title", m.title, bold=True, auto_height=True))
        self.body = Txt("", size_px=m.body, color=MUTED, auto_height=True)
        col.add_widget(self.body)
        self.add_middle(col)
        self.entry = Txt("", size_px=m.title * 0.8, bold=True, color=PRIMARY, auto_height=True)
        col.add_widget(self.entry)
        self.error = Txt("", size_px=m.body, bold=True, color=ERROR, auto_height=True)
        col.add_widget(self.error)
        col.add_widget(spacer())
        self.keys = OnScreenKeyboard(self.layout, self._typed, key_h=m.button_h * 0.72, text_px=m.button_text * 0.9,
                                     max_len=64 if self.layout == "id" else 254)  # fmt: skip
        col.add_widget(self.keys)
        self.add_widget(col)
        self.add_buttons()
        self._session: str | None = None

    def add_middle(self, col: BoxLayout) -> None:
        """Widgets between the body and the typed text (the live picture, the opt-in)."""

    def add_buttons(self) -> None:
        """The footer: cancel left, the step's main action right."""
        self.place(self.btn("common.cancel", "cancel", primary=False), "left")
        self.go = self.place(self.btn(f"{self.prefix}.continue", self.submit), "right")

    def _typed(self, text: str) -> None:
        self.entry.text = (text or " ") + "|"
        self.go.arg = text
        self.go.set_enabled(bool(text))
        self.app.on_tap("typing", "")  # a key press is activity: the idle timer restarts

    def refresh(self) -> None:
        """A new guest starts with an empty entry."""
        super().refresh()
        sess = self.app.controller.session
        sid = sess.id if sess is not None else None
        if sid != self._session:
            self._session = sid
            self.keys.set_text("")
        self.update(0.0)

    def update(self, dt: float) -> None:
        """The step's error line, in the guest's language."""
        key = self.app.controller.station.error
        text = self.t(key) if key and key.startswith(self.prefix) else ""
        if self.error.text != text:
            self.error.text = text


class IdentityScreen(_TypingScreen):
    """The employee id: typed, or read from a badge or offer-letter QR code held up to the camera."""

    prefix = "station.id"
    layout = "id"
    submit = "identity"

    def add_middle(self, col: BoxLayout) -> None:
        """The live picture, small, while the scanner looks for a badge."""
        self.live = ImageView(mirror=True, size_hint_y=None, height=self.m.h * 0.24)
        col.add_widget(self.live)
        self._seq = -1

    def refresh(self) -> None:
        """Body text for typing only, or typing and the badge."""
        super().refresh()
        scan = self.app.controller.station.scanner is not None
        self.body.text = self.t("station.id.body_badge" if scan else "station.id.body")
        self.live.opacity = 1.0 if scan else 0.0

    def update(self, dt: float) -> None:
        """Blit the newest frame (the guest sees the badge they hold up)."""
        super().update(dt)
        c = self.app.controller
        if c.station.scanner is None:
            return
        frame = c.camera.latest()
        if frame is not None and frame.seq != self._seq:
            self._seq = frame.seq
            self.live.show(frame.image)


class EmailScreen(_TypingScreen):
    """The guest's e-mail address, and an opt-in (unticked) under the consent text."""

    prefix = "station.email"
    layout = "email"
    submit = "email"

    def add_middle(self, col: BoxLayout) -> None:
        """The opt-in box beside the consent text, and what the address is used for."""
        m = self.m
        row = BoxLayout(spacing=m.pad * 0.4, size_hint_y=None, height=max(96.0, m.body * 3.4))
        self.tick = TickBox(self.app.on_tap, size_hint=(None, 1), width=max(64.0, m.button_h * 0.6))
        row.add_widget(self.tick)
        self.optin = label("station.email.optin", m.small * 1.05, halign="left")
        row.add_widget(self.optin)
        col.add_widget(row)

    def add_buttons(self) -> None:
        """Skip left (no e-mail: the QR and print stay), send right."""
        self.place(self.btn("station.email.skip", "skip", primary=False), "left")
        self.go = self.place(self.btn("station.email.continue", self.submit), "right")

    def refresh(self) -> None:
        """The privacy line and the opt-in, unticked for each new guest (the controller resets it)."""
        super().refresh()
        self.body.text = self.t("station.email.body")

    def update(self, dt: float) -> None:
        """Follow the opt-in."""
        super().update(dt)
        ticked = self.app.controller.station.opted_in
        if ticked != self.tick.ticked:
            self.tick.show(ticked)
