"""After the capture: review the framed headshot, then choose a background style (paged, with previews)."""

from __future__ import annotations

from typing import Any

import numpy as np
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from kiosk.i18n import Texts
from kiosk.pipeline.formats import get_format
from kiosk.session.framing_worker import Box
from kiosk.ui.panels import Overlay
from kiosk.ui.screens.base import KScreen, label, spacer
from kiosk.ui.widgets import (
    MUTED,
    Btn,
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
EYES_IN_BOX = 0.38  # the eye line's height in a BlazeFace box, from its top (brow to chin)


def headshot_crop(bgr: np.ndarray, box: Box | None, fmt: str) -> np.ndarray:
    """The capture cut the way the format frames a headshot (face size and eye line), for the review screen.

    The cut is a quick stand-in for the studio pipeline's (no roll correction, no matte): what the guest
    will get, framed, instead of the camera's whole 4:3 picture. Without a face box the whole frame.

    Args:
        bgr: the capture, BGR uint8.
        box: the guest's face, normalised to the capture (unmirrored), or None.
        fmt: the output format whose framing to follow (the session's first).
    """
    if box is None:
        return bgr
    spec = get_format(fmt)
    h, w = bgr.shape[:2]
    cw, ch = spec.cell
    crop_h = box.h * h / spec.face_height
    crop_w = crop_h * cw / ch
    if crop_w > w or crop_h > h:  # a face too large for the rule: the largest cut of that shape that fits
        s = min(w / crop_w, h / crop_h)
        crop_w, crop_h = crop_w * s, crop_h * s
    eye_y = (box.y + EYES_IN_BOX * box.h) * h
    x0 = (box.x + box.w / 2) * w - crop_w / 2
    y0 = eye_y - spec.eye_line * crop_h
    x0 = min(max(0.0, x0), w - crop_w)  # slide inside the photo rather than show an empty border
    y0 = min(max(0.0, y0), h - crop_h)
    return bgr[round(y0) : round(y0 + crop_h), round(x0) : round(x0 + crop_w)]


class ReviewScreen(KScreen):
    """The framed headshot, with "use this photo", the retake and the auto-confirm countdown."""

    def build(self) -> None:
        """Photo, title, buttons in the shared slots (main action bottom-right, retake in the row above)."""
        m = self.m
        if m.landscape:
            root = BoxLayout(orientation="horizontal", padding=m.pad, spacing=m.pad * 0.8)
            self.photo = ImageView(size_hint=(0.55, 1))
            col = BoxLayout(orientation="vertical", spacing=m.pad * 0.5, size_hint=(0.45, 1),
                            padding=(0, 0, 0, m.footer2_h - m.pad))
        else:
            root = BoxLayout(orientation="vertical", padding=(m.pad, m.pad, m.pad, m.footer2_h), spacing=m.pad * 0.6)
            self.photo = ImageView(size_hint=(1, 0.78))
            col = BoxLayout(orientation="vertical", spacing=m.pad * 0.3, size_hint=(1, 0.22))
        root.add_widget(self.photo)
        col.add_widget(spacer())
        col.add_widget(label("review.title", m.title, bold=True, auto_height=True))
        self.auto = Txt("", size_px=m.body, color=MUTED, auto_height=True)
        col.add_widget(self.auto)
        col.add_widget(spacer())
        root.add_widget(col)
        self.add_widget(root)
        self.retake = self.place(self.btn("", "retake", primary=False), "left2")
        self.approve = self.place(self.btn("review.approve", "approve"), "right")

    def refresh(self) -> None:
        """Show the framed capture and the retakes left."""
        super().refresh()
        c = self.app.controller
        sess = c.session
        if sess is not None and sess.capture is not None:
            self.photo.show(np.ascontiguousarray(headshot_crop(sess.capture, c.capture_box, c.ui.formats[0])))
        left = c.ui.retake_limit - (sess.retakes if sess else 0)
        self.retake.text = self.t("review.retake", n=left) if left > 0 else self.t("review.no_retake")
        self.retake.set_enabled(left > 0)
        self.update(0.0)

    def update(self, dt: float) -> None:
        """Seconds until auto-confirm."""
        left = max(0, int(np.ceil(self.app.controller.flow.review_left())))
        self.auto.text = self.t("review.auto", s=left)


class StyleScreen(KScreen):
    """Pick a backdrop style: pages of cards under the title, each with the guest's preview once it is made."""

    def build(self) -> None:
        """Title, page line, a page of cards, and the slots: cancel (asks first) and "more styles"."""
        m = self.m
        col = self.column()
        col.padding = (0, m.pad, 0, m.footer_h)
        col.add_widget(label("style.title", m.title, bold=True, auto_height=True))
        self.page_line = Txt("", size_px=m.small, color=MUTED, auto_height=True)
        col.add_widget(self.page_line)
        col.add_widget(spacer())
        col.add_widget(label("style.hint", m.body, color=MUTED, auto_height=True))  # above the reach of the cards
        col.add_widget(spacer())
        self.styles = list(self.app.controller.styles)  # backdrops, then the model pack's presets ("ai:…")
        self.cards: dict[str, StyleCard] = {}
        self._shown_job: Any = None
        cols, rows = (4, 2) if m.landscape else (2, 2)
        self.per_page = cols * rows
        self.pages = max(1, -(-len(self.styles) // self.per_page))
        self.page = 0
        shown_rows = min(rows, -(-len(self.styles) // cols))
        gap = m.pad * 0.5
        # Portrait: the cards stay in the lower two thirds of the screen, within a seated guest's reach.
        room = (m.h * 2 / 3 if not m.landscape else m.h - m.title * 3.5) - m.footer_h - m.pad
        card_h = min((room - (shown_rows - 1) * gap) / shown_rows, (440 if m.landscape else 560) * m.u)
        self.grid = GridLayout(cols=cols, spacing=gap, size_hint_y=None,
                               height=shown_rows * card_h + (shown_rows - 1) * gap)
        for style in self.styles:
            hexc = self.app.brand_color if style == "brand" else STYLE_SWATCH.get(style, "#8A9099")
            b = StyleCard("", "style", self.app.on_tap, arg=style, primary=False, size_px=m.button_text,
                          fill=hex_rgba(hexc), size_hint_y=None, height=card_h, tag=style.startswith("ai:"))
            b.text_key, b.text_fmt = Texts.style_key(style)
            self.cards[style] = b
        col.add_widget(self.grid)
        self.place(self.btn("common.cancel", "cancel", primary=False), "left")
        self.more = Btn("", "page", self._next_page, primary=False, size_px=m.button_text)
        self.more.text_key = "style.more"
        if self.pages > 1:
            self.place(self.more, "right")
        self._show_page(0)

    def _show_page(self, page: int) -> None:
        self.page = page % self.pages
        self.grid.clear_widgets()
        for style in self.styles[self.page * self.per_page : (self.page + 1) * self.per_page]:
            self.grid.add_widget(self.cards[style])
        self.page_line.text = self.t("style.page", n=self.page + 1, of=self.pages) if self.pages > 1 else ""

    def _next_page(self, _action: str, _arg: str) -> None:
        self.app.controller.flow.activity()
        self._show_page(self.page + 1)
        self.app.screen_changed()  # the cards under the finger changed: the tap guard starts again

    def refresh(self) -> None:
        """Texts in the guest's language (AI styles by the pack's own names); a new guest starts on page one."""
        super().refresh()
        c = self.app.controller
        lang = self.app.language
        for style, card in self.cards.items():
            name = c.style_label(style, lang)
            if name is not None:
                card.text = self.t("style.ai", name=name)
            if card.tag is not None:
                card.tag.text = self.t("style.preview")
                card._layout_thumb()
        job = c.previews
        if job is not self._shown_job:
            self._shown_job = job
            for card in self.cards.values():
                card.clear_thumb()
            self._show_page(0)
        self._show_page(self.page)
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

    def make_overlay(self, kind: str) -> Overlay | None:
        """"Delete your photo?": keep it where Cancel was (a double tap keeps), delete on the other side."""
        if kind != "cancel":
            return super().make_overlay(kind)
        keep = self.btn("confirm.keep", "keep")
        delete = self.btn("confirm.delete", "confirm_cancel", primary=False)
        ov = self.dialog("confirm.cancel_title", [(keep, "left"), (delete, "right")], dim=True)
        ov.line.text = self.t("confirm.cancel_body")
        return ov
