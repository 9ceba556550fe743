"""After the capture: review the photo, then choose a background style."""

from __future__ import annotations

from typing import Any

import numpy as np
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from kiosk.i18n import Texts
from kiosk.ui.screens.base import KScreen, label, spacer
from kiosk.ui.widgets import (
    MUTED,
    WHITE,
    ImageView,
    StyleCard,
    Txt,
    hex_rgba,
)

STYLE_SWATCH = {
    "studio-grey": "#8A9099",
    "white": "#FAFAFA",
    "blurred": "#B9A88F",
    "custom": "#6B5B95",
}


class ReviewScreen(KScreen):
    """The capture, with approve / retake and the auto-confirm countdown."""

    def build(self) -> None:
        """Photo, title, buttons."""
        m = self.m
        root = BoxLayout(orientation="horizontal" if m.landscape else "vertical", padding=m.pad, spacing=m.pad * 0.8)
        self.photo = ImageView(size_hint=(0.55, 1) if m.landscape else (1, 0.6))
        root.add_widget(self.photo)
        col = BoxLayout(orientation="vertical", spacing=m.pad * 0.5, size_hint=(0.45, 1) if m.landscape else (1, 0.4))
        col.add_widget(spacer())
        col.add_widget(label("review.title", m.title, bold=True, auto_height=True))
        self.auto = Txt("", size_px=m.body, color=MUTED, auto_height=True)
        col.add_widget(self.auto)
        col.add_widget(spacer())
        self.approve = self.btn("review.approve", "approve")
        self.retake = self.btn("", "retake", primary=False)
        col.add_widget(self.approve)
        col.add_widget(self.retake)
        root.add_widget(col)
        self.add_widget(root)

    def refresh(self) -> None:
        """Show the capture and the retakes left."""
        super().refresh()
        c = self.app.controller
        sess = c.session
        if sess is not None and sess.capture is not None:
            self.photo.show(sess.capture)
        left = c.ui.retake_limit - (sess.retakes if sess else 0)
        self.retake.text = self.t("review.retake", n=left) if left > 0 else self.t("review.no_retake")
        self.retake.set_enabled(left > 0)
        self.update(0.0)

    def update(self, dt: float) -> None:
        """Seconds until auto-confirm."""
        c = self.app.controller
        left = max(0, int(np.ceil(c.flow.timeouts.review_auto_confirm_s - c.flow.idle_for())))
        self.auto.text = self.t("review.auto", s=left)


class StyleScreen(KScreen):
    """Pick a backdrop style: coloured cards."""

    def build(self) -> None:
        """Title and one card per configured style."""
        m = self.m
        col = self.column()
        col.add_widget(label("style.title", m.title, bold=True, auto_height=True))
        col.add_widget(spacer(m.pad * 0.5))
        styles = list(self.app.controller.styles)  # backdrops, then the model pack's presets ("ai:…")
        self.cards: dict[str, StyleCard] = {}
        self._shown_job: Any = None
        cols = 4 if m.landscape else 2
        grid = GridLayout(cols=cols, spacing=m.pad * 0.5, size_hint_y=None)
        rows = (len(styles) + cols - 1) // cols
        card_h = (440 if m.landscape else 520) * m.u * min(1.0, 3 / max(1, rows))
        grid.height = rows * card_h + (rows - 1) * m.pad * 0.5
        for style in styles:
            hexc = self.app.brand_color if style == "brand" else STYLE_SWATCH.get(style, "#8A9099")
            fill = hex_rgba(hexc)
            lum = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]
            b = StyleCard(
                "",
                "style",
                self.app.on_tap,
                arg=style,
                primary=False,
                size_px=m.button_text,
                fill=fill,
                ink=(0.12, 0.16, 0.2, 1) if lum > 0.6 else WHITE,
                size_hint_y=None,
                height=card_h,
            )
            b.text_key, b.text_fmt = Texts.style_key(style)
            grid.add_widget(b)
            self.cards[style] = b
        col.add_widget(grid)
        col.add_widget(spacer())
        col.add_widget(self.btn("common.cancel", "cancel", primary=False))

    def refresh(self) -> None:
        """New session: forget the previous guest's previews."""
        super().refresh()
        job = self.app.controller.previews
        if job is not self._shown_job:
            self._shown_job = job
            for card in self.cards.values():
                card.clear_thumb()
        self.update(0.0)

    def update(self, dt: float) -> None:
        """Show each preview as the processing thread finishes it."""
        job = self.app.controller.previews
        if job is None:
            return
        for style, img in list(job.images.items()):
            card = self.cards.get(style)
            if card is not None and not card.has_thumb:
                card.set_thumb(img)
