"""The live camera view: the guest's outline, the guidance line and the countdown."""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Line
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout

from kiosk.session.flow import State
from kiosk.session.framing_worker import Hint
from kiosk.ui.screens.base import KScreen, label, spacer
from kiosk.ui.widgets import (
    GUIDE,
    OK,
    WARN,
    WHITE,
    LivePreview,
    Txt,
)

HALO = (0.05, 0.07, 0.09, 1.0)  # opaque (see LivePreview): a dark edge keeps the light line visible on a light wall
STALE_S = 1.0  # a framing result older than this is not shown: the outline follows the current frame


class GuidedPreview(LivePreview):
    """The live preview whose guide and face box sit on a dark halo, and whose outline resets with the face."""

    def __init__(self, **kw: Any) -> None:
        """The preview, with halo lines drawn under its guide and box."""
        super().__init__(**kw)
        # Under the light lines: insert the halo before them in canvas.after (index 0 draws first).
        self._halo_head = Line(ellipse=(0, 0, 1, 1), width=7)
        self._halo_shoulders = Line(points=[0, 0, 1, 1], width=7)
        self._halo_box = Line(rounded_rectangle=(-1000, -1000, 10, 10, 2), width=8)
        for i, instr in enumerate((Color(*HALO), self._halo_head, self._halo_shoulders, self._halo_box)):
            self.canvas.after.insert(i, instr)
        self._layout_overlay()

    def _layout_overlay(self, *_: Any) -> None:
        super()._layout_overlay()
        if hasattr(self, "_halo_head"):
            # The guide's head oval (LivePreview._layout_overlay's geometry; a Line's ellipse does not read back).
            x, y, w, h = self.image_rect()
            cx, cy, rx, ry = x + w / 2, y + h * (1 - 0.30), 0.12 * h, 0.17 * h
            self._halo_head.ellipse = (cx - rx, cy - ry, 2 * rx, 2 * ry)
            self._halo_shoulders.points = self._shoulders.points

    def _set_box(self, rect: tuple[float, ...]) -> None:
        super()._set_box(rect)
        if hasattr(self, "_halo_box"):
            self._halo_box.rounded_rectangle = rect

    def set_face(self, box: Any, framed: bool) -> None:
        """Draw the face box, or hide it; without a face the guide is neutral again (never left green)."""
        super().set_face(box, framed)
        if box is None and tuple(self._guide_color.rgba) != GUIDE:
            self._guide_color.rgba = GUIDE
            self._box_color.rgba = WARN


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
        self.preview = GuidedPreview()
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
        panel.add_widget(spacer(m.footer_h - m.pad * 0.6))  # the buttons' slots, shared by every guest screen
        root.add_widget(panel)
        self.add_widget(root)
        # Cancel bottom-left, the shutter bottom-right (base.Metrics.slot): never where another screen's
        # cancel or retake waits for a tap that was meant for this one.
        self.place(self.btn("common.cancel", "cancel", primary=False), "left")
        self.shoot = self.place(self.btn("framing.shoot", "shoot"), "right")
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
        if r is not None and c.clock() - r.t > STALE_S:
            r = None  # the worker has not seen this frame yet: show no outline rather than an old one
        self.preview.set_face(r.box if r else None, bool(r and r.framed))
        if st is State.COUNTDOWN:
            view = (str(max(1, c.countdown_left)), self.t("countdown.look"), WHITE, 0.0, 0.0)
        elif st is State.CAPTURE:
            view = ("", self.t("capture.title"), WHITE, 0.0, 0.85)
        else:
            hint = r.hint if r is not None else Hint.NO_FACE
            ok = hint in (Hint.PERFECT, Hint.HOLD_STILL)
            notice = c.notice_now()  # why a tap on "Take photo now" or a countdown did not go on
            text = self.t(notice) if notice else self.t(f"hint.{hint.value}")
            view = ("", text, OK if ok and not notice else WHITE, 1.0, 0.0)
        if view != self._view:  # set widget properties only on change: no label re-render per frame
            self._view = view
            self.count.text, self.hint.text, self.hint.color, self.shoot.opacity, flash = view
            self.preview.set_flash(flash)
