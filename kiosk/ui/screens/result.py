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

from kiosk.status import Level
from kiosk.ui.panels import BeforeAfter, Overlay
from kiosk.ui.screens.base import KScreen, label, spacer
from kiosk.ui.screens.choose import headshot_crop
from kiosk.ui.widgets import (
    MUTED,
    PRIMARY,
    Btn,
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
        self.reveal = BeforeAfter(m.small, size_hint=(0.5, 1) if m.landscape else (1, 0.45))
        self.photo = self.reveal.after
        root.add_widget(self.reveal)
        col = BoxLayout(orientation="vertical", spacing=m.pad * 0.4, size_hint=(0.5, 1) if m.landscape else (1, 0.55),
                        padding=(0, 0, 0, m.footer_h - m.pad))
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
        self.terms = Txt("", size_px=m.small, color=MUTED, auto_height=True)  # what the link allows
        col.add_widget(self.terms)
        self.print_msg = Txt("", size_px=m.small, color=PRIMARY, auto_height=True)
        col.add_widget(self.print_msg)
        self.notice = Txt("", size_px=m.small, color=MUTED, auto_height=True)
        col.add_widget(self.notice)
        self.went = Txt("", size_px=m.small, bold=True, color=PRIMARY, auto_height=True)  # the station's hand-over
        col.add_widget(self.went)
        # The Wi-Fi join code comes first when configured; this button moves on to the photo's code.
        self.wifi_btn = Btn(self.t("delivery.wifi_next"), "wifi_next", self._wifi_joined, primary=False,
                            size_px=m.button_text, size_hint_y=None, height=m.button_h)
        self.wifi_btn.text_key = "delivery.wifi_next"
        col.add_widget(self.wifi_btn)
        root.add_widget(col)
        self.add_widget(root)
        self.print_btn = self.place(self.btn("delivery.print", "print", primary=False), "left")
        self.place(self.btn("delivery.done", "done"), "right")  # asks "did you get it?" (make_overlay)
        self._age, self._printer_on = 0.0, False
        self._revealed: tuple[object, ...] | None = None

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
        shown = (sess.id, tuple(sess.results.values())) if sess is not None and sess.results else None
        if shown is not None and shown != self._revealed:
            self._start_reveal()  # once per result: a dialog or a language change re-reads texts only
        self._revealed = shown
        wifi = c.downloads.wifi() if c.download_url else None
        self._show_qr(wifi or c.download_url, "delivery.wifi_scan" if wifi else "delivery.scan")
        self.wifi_btn.opacity, self.wifi_btn.disabled = (1.0, False) if wifi else (0.0, True)
        self.wifi_btn.height = self.m.button_h if wifi else 0
        self.notice.text = self.t("delivery.ai_fallback") if c.notice else ""
        # A printer that cannot print now keeps its button, greyed, and the line below says why.
        self._printer_on = c.printer.status().level is not Level.OFF
        self.print_btn.set_enabled(self._printer_on and c.printer.available())
        if not self._printer_on:
            self.print_btn.opacity = 0.0  # no printer at this kiosk: no button
        self._age = 1.0
        self.update(0.0)

    def _show_qr(self, uri: str | None, key: str) -> None:
        terms = self.app.controller.downloads.terms()
        if uri:
            self._qr_rect.texture = qr_texture(uri)
            self.qr.opacity = 1.0
            self.scan.text = self.t(key)
        else:
            self.qr.opacity = 0.0
            self.scan.text = self.t("delivery.no_download")
        show_terms = uri is not None and uri == self.app.controller.download_url and terms is not None
        self.terms.text = self.t(f"terms.{terms.mode}", minutes=terms.minutes, downloads=terms.downloads) \
            if show_terms and terms is not None else ""
        self._place_qr()

    def _wifi_joined(self, _action: str, _arg: str) -> None:
        self.app.controller.flow.activity()
        self._show_qr(self.app.controller.download_url, "delivery.scan")
        self.wifi_btn.opacity, self.wifi_btn.disabled, self.wifi_btn.height = 0.0, True, 0

    def _start_reveal(self) -> None:
        """Before (the framed capture) and after (the first format), then every format the session made."""
        c = self.app.controller
        sess = c.session
        assert sess is not None
        made = [f for f in c.ui.formats if f in sess.results] + [f for f in sess.results if f not in c.ui.formats]
        results = []
        for fmt in made:
            img = cv2.imread(str(sess.results[fmt]), cv2.IMREAD_COLOR)
            if img is not None:
                results.append((fmt, self.t(f"format.{fmt}", fallback="format.other", name=fmt), img))
        before = headshot_crop(sess.capture, c.capture_box, made[0]) if sess.capture is not None and made else None
        self.reveal.start(before, results)

    def make_overlay(self, kind: str) -> Overlay | None:
        """"Did you get your photo?" over the buttons only: the QR code stays in view; "not yet" where Done was."""
        if kind != "done":
            return super().make_overlay(kind)
        yes = self.btn("confirm.got_it", "confirm_done", primary=False)
        not_yet = self.btn("confirm.not_yet", "not_yet")
        return self.dialog("confirm.done_title", [(yes, "left"), (not_yet, "right")], dim=False, lines=0)

    def update(self, dt: float) -> None:
        """The reveal; the print line: this guest's job state, or why Print is unavailable (CUPS twice a second)."""
        self.reveal.caption.text = self.t(f"reveal.{self.reveal.step(dt)}")
        self._age += dt
        if self._age < 0.5:
            return
        self._age = 0.0
        c = self.app.controller
        key = c.print_line()
        self.print_msg.text = self.t(key) if key else ""
        self.went.text = "\n".join(self.t(k, None, **fmt) for k, fmt in c.station.where())  # where the photo went
        if self._printer_on:
            self.print_btn.set_enabled(c.printer.available())


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

    def touched(self, touch: Any) -> bool:
        """Any tap (past the tap guard) finishes."""
        self.app.on_tap("finish", "")
        return True
