"""The result: processing, delivery (QR code, print) and thanks."""

from __future__ import annotations

import io
from typing import Any

import cv2
from kivy.core.image import Image as CoreImage
from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.widget import Widget

from kiosk.ui.screens.base import KScreen, label, spacer
from kiosk.ui.widgets import (
    MUTED,
    PRIMARY,
    ImageView,
    LoadBar,
    Silhouette,
    Txt,
)


class ProcessingScreen(KScreen):
    """Real progress of the studio pipeline (it runs on the processing thread)."""

    def build(self) -> None:
        """Title, bar, percentage."""
        m = self.m
        col = self.column()
        col.add_widget(spacer())
        col.add_widget(label("processing.title", m.title, bold=True, auto_height=True))
        col.add_widget(label("processing.body", m.body, color=MUTED, auto_height=True))
        col.add_widget(spacer(m.pad))
        self.bar = LoadBar(size_hint_y=None, height=max(24.0, 36 * m.u))
        col.add_widget(self.bar)
        self.pct = Txt("0 %", size_px=m.body, bold=True, color=PRIMARY, auto_height=True)
        col.add_widget(self.pct)
        col.add_widget(spacer())

    def update(self, dt: float) -> None:
        """Follow the job."""
        job = self.app.controller.job
        frac = job.progress if job is not None else 0.0
        self.bar.set(frac)
        self.pct.text = f"{round(frac * 100)} %"


def qr_texture(url: str, scale: int = 12) -> Any:
    """A QR code of url as a Kivy texture."""
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=scale, border=2)
    buf.seek(0)
    return CoreImage(buf, ext="png").texture


class DeliveryScreen(KScreen):
    """The result, the QR code for the phone, print and done."""

    def build(self) -> None:
        """Result image, QR and buttons."""
        m = self.m
        root = BoxLayout(orientation="horizontal" if m.landscape else "vertical", padding=m.pad, spacing=m.pad * 0.8)
        self.photo = ImageView(size_hint=(0.5, 1) if m.landscape else (1, 0.45))
        root.add_widget(self.photo)
        col = BoxLayout(orientation="vertical", spacing=m.pad * 0.4, size_hint=(0.5, 1) if m.landscape else (1, 0.55))
        col.add_widget(label("delivery.title", m.title, bold=True, auto_height=True))
        qr_box = FloatLayout()
        self.qr = Widget(size_hint=(None, None))
        with self.qr.canvas:
            Color(1, 1, 1, 1)
            self._qr_rect = Rectangle()
        qr_box.add_widget(self.qr)
        qr_box.bind(pos=self._place_qr, size=self._place_qr)
        self._qr_box = qr_box
        col.add_widget(qr_box)
        self.scan = Txt("", size_px=m.body, color=MUTED, auto_height=True)
        col.add_widget(self.scan)
        self.print_msg = Txt("", size_px=m.small, color=PRIMARY, auto_height=True)
        col.add_widget(self.print_msg)
        self.notice = Txt("", size_px=m.small, color=MUTED, auto_height=True)
        col.add_widget(self.notice)
        row = BoxLayout(spacing=m.pad * 0.5, size_hint_y=None, height=m.button_h)
        self.print_btn = self.btn("delivery.print", "print", primary=False)
        row.add_widget(self.print_btn)
        row.add_widget(self.btn("delivery.done", "done"))
        col.add_widget(row)
        root.add_widget(col)
        self.add_widget(root)

    def _place_qr(self, *_: Any) -> None:
        box = self._qr_box
        side = max(0.0, min(box.width, box.height) - 8)
        self.qr.size = (side, side)
        self.qr.pos = (box.center_x - side / 2, box.center_y - side / 2)
        self._qr_rect.pos, self._qr_rect.size = self.qr.pos, self.qr.size

    def refresh(self) -> None:
        """Show the first result, its QR (when download is on) and the print button (when printing is)."""
        super().refresh()
        c = self.app.controller
        sess = c.session
        if sess is not None and sess.results:
            first = sess.results.get(c.ui.formats[0]) or next(iter(sess.results.values()))
            img = cv2.imread(str(first), cv2.IMREAD_COLOR)
            if img is not None:
                self.photo.show(img)
        if c.download_url:
            self._qr_rect.texture = qr_texture(c.download_url)
            self.qr.opacity = 1.0
            self.scan.text = self.t("delivery.scan")
        else:
            self.qr.opacity = 0.0
            self.scan.text = self.t("delivery.no_download")
        self.notice.text = self.t("delivery.ai_fallback") if c.notice else ""
        on = c.printer.available()
        self.print_btn.set_enabled(on)
        self.print_btn.opacity = 1.0 if on else 0.0
        self._place_qr()
        self.update(0.0)

    def update(self, dt: float) -> None:
        """Print status."""
        msg = self.app.controller.print_message
        if msg is None:
            self.print_msg.text = ""
        elif msg == "error":
            self.print_msg.text = self.t("delivery.print_error")
        else:
            self.print_msg.text = self.t("delivery.printing")


class ThanksScreen(KScreen):
    """Thank you; the data is gone. A tap (or the timer) returns to the attract screen."""

    def build(self) -> None:
        """Title and body."""
        m = self.m
        col = self.column()
        col.add_widget(spacer())
        col.add_widget(Silhouette(size_hint_y=None, height=260 * m.u))
        col.add_widget(label("thanks.title", m.title * 1.2, bold=True, auto_height=True))
        col.add_widget(label("thanks.body", m.body, color=MUTED, auto_height=True))
        col.add_widget(spacer())

    def on_touch_down(self, touch: Any) -> bool:
        """Any tap finishes."""
        self.app.on_tap("finish", "")
        return True
