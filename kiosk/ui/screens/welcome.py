"""The guest's way in: the attract screen, the language choice and consent."""

from __future__ import annotations

import math
from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from kiosk.ui.screens.base import KScreen, label, spacer
from kiosk.ui.widgets import (
    MUTED,
    PRIMARY,
    PRIMARY_DOWN,
    Btn,
    Card,
    Silhouette,
    Txt,
    hex_rgba,
)


class AttractScreen(KScreen):
    """Tap anywhere to start; five taps in the top-left corner open the operator PIN pad."""

    def build(self) -> None:
        """Title, subtitle, the silhouette mark, three steps and the call to action.

        Portrait: one column. Landscape: the mark and title on the left, the steps and the call on the right.
        """
        m = self.m
        steps = BoxLayout(orientation="vertical", spacing=m.pad * 0.4, size_hint_y=None)
        steps.height = 3 * m.button_h * 0.95 + 2 * m.pad * 0.4
        for i in (1, 2, 3):
            card = Card(i, m.body * 0.95)
            card.text_key = f"attract.step{i}"
            steps.add_widget(card)
        self.cta = label("attract.tap", m.button_text, bold=True, color=PRIMARY, auto_height=True)
        title = label("attract.title", m.title * 1.25, bold=True, auto_height=True)
        subtitle = label("attract.subtitle", m.body, color=MUTED, auto_height=True)
        mark = Silhouette(size_hint_y=None, height=(300 if m.landscape else 460) * m.u)
        if not m.landscape:
            col = self.column()
            # The call to action above the steps: the language screen's Cancel sits bottom-left, where a
            # second tap of a double tap would otherwise land (the tap guard covers the first half second).
            for w in (spacer(), mark, spacer(m.pad), title, subtitle, spacer(m.pad), self.cta, spacer(), steps):
                col.add_widget(w)
            col.add_widget(spacer(m.footer_h - m.pad * 1.5))
        else:
            row = BoxLayout(orientation="horizontal", padding=(m.pad * 2, m.pad * 1.5), spacing=m.pad * 2)
            left = BoxLayout(orientation="vertical", spacing=m.pad * 0.5)
            for w in (spacer(), mark, spacer(m.pad * 0.5), title, subtitle, spacer()):
                left.add_widget(w)
            right = BoxLayout(orientation="vertical", spacing=m.pad * 0.6)
            for w in (spacer(), steps, spacer(m.pad * 0.5), self.cta, spacer()):
                right.add_widget(w)
            row.add_widget(left)
            row.add_widget(right)
            self.add_widget(row)
        # The attendant cue (kiosk.app.attention): bottom-right, away from the operator's top-left corner.
        self.staff = Txt("", size_px=m.small, bold=True, color=hex_rgba("#9A3412"), halign="right",
                         size_hint=(0.9, None), height=m.small * 2.6, pos_hint={"right": 0.98, "y": 0.005})
        self.add_widget(self.staff)
        self._t = 0.0

    def update(self, dt: float) -> None:
        """Breathe the call to action between two inks that both keep a 4.5:1 contrast (a fade would not)."""
        self._t += dt
        k = 0.5 + 0.5 * math.sin(self._t * 2.2)
        self.cta.color = tuple(a + (b - a) * k for a, b in zip(PRIMARY, PRIMARY_DOWN, strict=True))
        staff = self.t("attract.attendant") if self.app.controller.attention.problem is not None else ""
        if self.staff.text != staff:
            self.staff.text = staff

    def in_corner(self, x: float, y: float) -> bool:
        """Whether a touch is in the hidden top-left corner."""
        c = max(96.0, 160 * self.m.u)
        return x < c and y > self.height - c

    def touched(self, touch: Any) -> bool:
        """Corner taps count towards the operator gesture; any other tap starts a session."""
        if self.in_corner(*touch.pos):
            self.app.on_corner_tap()
        else:
            self.app.on_tap("start", "")
        return True


class LanguageScreen(KScreen):
    """One big button per language, each in its own language."""

    def build(self) -> None:
        """Title; the languages, "Larger text" and "More time" within reach (low); cancel bottom-left."""
        m = self.m
        col = self.column()
        col.padding = (0, m.pad * 1.5, 0, m.footer2_h)
        col.add_widget(label("language.title", m.title, bold=True, auto_height=True))
        col.add_widget(spacer())
        langs = self.app.texts.languages
        cols = 3 if m.landscape else 2
        grid = GridLayout(cols=cols, spacing=m.pad * 0.5, size_hint_y=None)
        rows = (len(langs) + cols - 1) // cols
        grid.height = rows * m.button_h * 1.15 + (rows - 1) * m.pad * 0.5
        for lang in langs:
            b = Btn(
                self.app.texts.name(lang),
                "language",
                self.app.on_tap,
                arg=lang,
                primary=False,
                size_px=m.button_text * 1.1,
            )
            grid.add_widget(b)
        col.add_widget(grid)
        self.larger = self.place(self.btn("a11y.larger", "large_text", primary=False), "left2")
        self.more = self.place(self.btn("a11y.more_time", "more_time", primary=False), "right2")
        self.place(self.btn("common.cancel", "cancel", primary=False), "left")

    def refresh(self) -> None:
        """The accessibility buttons say when they are on."""
        super().refresh()
        sess = self.app.controller.session
        if self.app.text_scale != 1.0:
            self.larger.text = self.t("a11y.larger_on")
        if sess is not None and sess.time_factor != 1.0:
            self.more.text = self.t("a11y.more_time_on")

    def update(self, dt: float) -> None:
        """"More time" pressed: say so at once."""
        sess = self.app.controller.session
        if sess is not None and sess.time_factor != 1.0 and self.more.text != self.t("a11y.more_time_on"):
            self.more.text = self.t("a11y.more_time_on")


class ConsentScreen(KScreen):
    """What happens to the photo; agree or leave."""

    def build(self) -> None:
        """Title, body, the two choices."""
        m = self.m
        col = self.column()
        col.padding = (0, m.pad * 1.5, 0, m.footer_h)
        col.add_widget(spacer())
        col.add_widget(label("consent.title", m.title, bold=True, auto_height=True))
        col.add_widget(label("consent.body", m.body, color=MUTED, auto_height=True, line_height=1.25))
        col.add_widget(spacer())
        self.place(self.btn("consent.decline", "cancel", primary=False), "left")
        self.place(self.btn("consent.agree", "agree"), "right")
