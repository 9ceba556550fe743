"""The kiosk's screens: built for the window's size and orientation, refreshed when shown.

Each screen `refresh()`es its texts when shown and `update()`s moving parts once per frame. Screens only
read the controller and forward taps.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from kivy.core.image import Image as CoreImage
from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from kiosk.i18n import Texts
from kiosk.session.flow import State
from kiosk.session.framing_worker import Hint
from kiosk.ui.widgets import (
    BG,
    MUTED,
    OK,
    PRIMARY,
    WHITE,
    Btn,
    BusyRing,
    Card,
    ImageView,
    LivePreview,
    LoadBar,
    Silhouette,
    StyleCard,
    Txt,
    hex_rgba,
    paint_background,
)

if TYPE_CHECKING:
    from kiosk.ui.app import KioskApp

STYLE_SWATCH = {
    "studio-grey": "#8A9099",
    "white": "#FAFAFA",
    "blurred": "#B9A88F",
    "custom": "#6B5B95",
}


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
            for w in (spacer(), mark, spacer(m.pad), title, subtitle, spacer(m.pad), steps, spacer(), self.cta):
                col.add_widget(w)
            col.add_widget(spacer(m.pad))
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
        self._t = 0.0

    def update(self, dt: float) -> None:
        """Breathe the call to action."""
        self._t += dt
        self.cta.opacity = 0.55 + 0.45 * (0.5 + 0.5 * math.sin(self._t * 2.2))

    def in_corner(self, x: float, y: float) -> bool:
        """Whether a touch is in the hidden top-left corner."""
        c = max(96.0, 160 * self.m.u)
        return x < c and y > self.height - c

    def on_touch_down(self, touch: Any) -> bool:
        """Corner taps count towards the operator gesture; any other tap starts a session."""
        if self.in_corner(*touch.pos):
            self.app.on_corner_tap()
        else:
            self.app.on_tap("start", "")
        return True


class LanguageScreen(KScreen):
    """One big button per language, each in its own language."""

    def build(self) -> None:
        """Title, grid of languages, cancel."""
        m = self.m
        col = self.column()
        col.add_widget(label("language.title", m.title, bold=True, auto_height=True))
        col.add_widget(spacer(m.pad * 0.5))
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
        col.add_widget(spacer())
        col.add_widget(self.btn("common.cancel", "cancel", primary=False))


class ConsentScreen(KScreen):
    """What happens to the photo; agree or leave."""

    def build(self) -> None:
        """Title, body, the two choices."""
        m = self.m
        col = self.column()
        col.add_widget(spacer())
        col.add_widget(label("consent.title", m.title, bold=True, auto_height=True))
        col.add_widget(label("consent.body", m.body, color=MUTED, auto_height=True, line_height=1.25))
        col.add_widget(spacer())
        row = BoxLayout(spacing=m.pad * 0.5, size_hint_y=None, height=m.button_h)
        row.add_widget(self.btn("consent.decline", "cancel", primary=False))
        row.add_widget(self.btn("consent.agree", "agree"))
        col.add_widget(row)


class LiveScreen(KScreen):
    """Live framing, countdown and capture: the mirrored preview with guide, face box and hints."""

    dark = True

    def build(self) -> None:
        """Preview plus a hint panel (beside it in landscape, below it in portrait)."""
        m = self.m
        root = BoxLayout(
            orientation="horizontal" if m.landscape else "vertical", padding=m.pad * 0.6, spacing=m.pad * 0.6
        )
        stage = FloatLayout(size_hint=(0.6, 1) if m.landscape else (1, 0.7))
        self.preview = LivePreview()
        self.count = Txt("", size_px=360 * m.u, bold=True, color=WHITE)
        stage.add_widget(self.preview)

        def follow(*_: Any) -> None:
            for w in (self.preview, self.count):
                w.pos, w.size = stage.pos, stage.size

        stage.bind(pos=follow, size=follow)
        self.count.outline_width = max(2, int(6 * m.u))
        self.count.outline_color = (0, 0, 0, 0.6)
        stage.add_widget(self.count)
        root.add_widget(stage)
        panel = BoxLayout(
            orientation="vertical",
            spacing=m.pad * 0.5,
            padding=(m.pad * 0.4, 0),
            size_hint=(0.4, 1) if m.landscape else (1, 0.3),
        )
        self.title = label("framing.title", m.title * 0.8, bold=True, color=WHITE, auto_height=True)
        panel.add_widget(self.title)
        panel.add_widget(spacer())
        self.hint = Txt("", size_px=m.title * 0.75, bold=True, color=WHITE, auto_height=True)
        panel.add_widget(self.hint)
        self.sub = Txt("", size_px=m.body, color=(0.8, 0.84, 0.88, 1), auto_height=True)
        panel.add_widget(self.sub)
        panel.add_widget(spacer())
        # Landscape: the panel is narrow, so the two buttons stack (primary on top).
        stacked = m.landscape
        row = BoxLayout(
            orientation="vertical" if stacked else "horizontal",
            spacing=m.pad * 0.4,
            size_hint_y=None,
            height=m.button_h * (2 if stacked else 1) + (m.pad * 0.4 if stacked else 0),
        )
        self.shoot = self.btn("framing.shoot", "shoot")
        cancel = self.btn("common.cancel", "cancel", primary=False)
        for w in (self.shoot, cancel) if stacked else (cancel, self.shoot):
            row.add_widget(w)
        panel.add_widget(row)
        root.add_widget(panel)
        self.add_widget(root)
        self._last_seq = -1
        self._view: tuple[Any, ...] = ()

    def refresh(self) -> None:
        """Reset the preview overlays."""
        super().refresh()
        self._last_seq = -1
        self._view = ()
        self.update(0.0)

    def update(self, dt: float) -> None:
        """Blit the newest frame, draw the face box, set the hint or countdown."""
        c = self.app.controller
        frame = c.camera.latest()
        if frame is not None and frame.seq != self._last_seq:
            self.preview.show(frame.image)
            self._last_seq = frame.seq
        st = c.state
        r = c.framing_result
        self.preview.set_face(r.box if r else None, bool(r and r.framed))
        if st is State.COUNTDOWN:
            view = (str(max(1, c.countdown_left)), self.t("countdown.look"), WHITE, 0.0, 0.0)
        elif st is State.CAPTURE:
            view = ("", self.t("capture.title"), WHITE, 0.0, 0.85)
        else:
            hint = r.hint if r is not None else Hint.NO_FACE
            ok = hint in (Hint.PERFECT, Hint.HOLD_STILL)
            view = ("", self.t(f"hint.{hint.value}"), OK if ok else WHITE, 1.0, 0.0)
        if view != self._view:  # set widget properties only on change: no label re-render per frame
            self._view = view
            self.count.text, self.hint.text, self.hint.color, self.shoot.opacity, flash = view
            self.preview.set_flash(flash)


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


class AttendantScreen(KScreen):
    """The calm failsafe screen: "one moment please"; it recovers by itself."""

    def build(self) -> None:
        """BusyRing, title, body, cause line."""
        m = self.m
        col = self.column()
        col.add_widget(spacer())
        self.spin = BusyRing(size_hint_y=None, height=200 * m.u)
        col.add_widget(self.spin)
        col.add_widget(spacer(m.pad))
        col.add_widget(label("attendant.title", m.title, bold=True, auto_height=True))
        col.add_widget(label("attendant.body", m.body, color=MUTED, auto_height=True))
        self.cause = Txt("", size_px=m.small, color=PRIMARY, auto_height=True)
        col.add_widget(self.cause)
        col.add_widget(spacer())

    def refresh(self) -> None:
        """Name the cause the guest can understand (the camera), nothing technical."""
        super().refresh()
        causes = self.app.controller.flow.causes
        self.cause.text = self.t("attendant.camera") if "camera" in causes else ""

    def update(self, dt: float) -> None:
        """Spin."""
        self.spin.step(dt)
        self.refresh()


class PinScreen(KScreen):
    """Operator PIN pad (English: operator-facing)."""

    def build(self) -> None:
        """Title, PIN dots, keypad."""
        m = self.m
        col = self.column(spacing=m.pad * 0.4)
        col.add_widget(Txt("Operator PIN", size_px=m.title, bold=True, auto_height=True))
        self.dots = Txt("", size_px=m.title, color=PRIMARY, auto_height=True)
        col.add_widget(self.dots)
        self.msg = Txt("", size_px=m.small, color=MUTED, auto_height=True)
        col.add_widget(self.msg)
        pad = GridLayout(cols=3, spacing=m.pad * 0.3, size_hint=(None, None))
        key_h = m.button_h * (0.8 if m.landscape else 1.0)
        pad.width = min(m.content_w, 3 * key_h * 1.6 + 2 * m.pad * 0.3)
        pad.height = 4 * key_h + 3 * m.pad * 0.3
        pad.pos_hint = {"center_x": 0.5}
        for k in ["1", "2", "3", "4", "5", "6", "7", "8", "9", "C", "0", "OK"]:
            pad.add_widget(Btn(k, "pin", self.app.on_pin_key, arg=k, primary=(k == "OK"), size_px=m.button_text))
        col.add_widget(pad)
        col.add_widget(spacer())
        col.add_widget(Btn("Close", "pin", self.app.on_pin_key, arg="close", primary=False,
                           size_px=m.button_text, size_hint_y=None, height=m.button_h))  # fmt: skip
        self.entry = ""

    def refresh(self) -> None:
        """Clear the entry."""
        self.entry = ""
        self.update(0.0)

    def update(self, dt: float) -> None:
        """Dots and lockout message."""
        gate = self.app.controller.pin_gate
        self.dots.text = "●" * len(self.entry) if self.entry else "–  –  –  –"
        locked = gate.locked_for()
        if locked > 0:
            self.msg.text = f"Locked after too many wrong PINs. Try again in {int(np.ceil(locked))} s."
        elif gate.failures:
            self.msg.text = f"Wrong PIN ({gate.max_tries - gate.failures} tries left)"
        else:
            self.msg.text = "Enter the operator PIN"


class OperatorScreen(KScreen):
    """Counters, device status and the operator's actions (English: operator-facing)."""

    def build(self) -> None:
        """Two panels and a row of actions."""
        m = self.m
        col = self.column(spacing=m.pad * 0.4)
        col.add_widget(Txt("Operator", size_px=m.title, bold=True, auto_height=True))
        self.counters = Txt("", size_px=m.small, halign="left", auto_height=True)
        self.devices = Txt("", size_px=m.small, halign="left", auto_height=True, color=MUTED)
        col.add_widget(self.counters)
        col.add_widget(self.devices)
        self.msg = Txt("", size_px=m.small, color=PRIMARY, auto_height=True)
        col.add_widget(self.msg)
        col.add_widget(spacer())
        grid = GridLayout(cols=3 if m.landscape else 2, spacing=m.pad * 0.3, size_hint_y=None)
        actions = [
            ("Test print", "test_print"), ("Light test", "light_test"), ("Wipe all guest data now", "wipe"),
            ("Leave kiosk mode", "leave"), ("Close", "close"),
        ]  # fmt: skip
        rows = (len(actions) + grid.cols - 1) // grid.cols
        grid.height = rows * m.button_h + (rows - 1) * m.pad * 0.3
        for text, action in actions:
            grid.add_widget(Btn(text, "operator", self.app.on_operator, arg=action,
                                primary=action == "close", size_px=m.button_text * 0.8))  # fmt: skip
        col.add_widget(grid)
        self._age = 10.0

    def refresh(self) -> None:
        """Fresh numbers."""
        self._age = 10.0
        self.update(0.0)

    def update(self, dt: float) -> None:
        """Re-read counters and devices once a second."""
        self._age += dt
        if self._age < 1.0:
            return
        self._age = 0.0
        c = self.app.controller
        self.counters.text = "Counters:  " + "   ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.counters().items())
        self.devices.text = "\n".join(f"{k}: {v}" for k, v in c.device_status().items())
