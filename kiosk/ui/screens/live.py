"""The live camera view: the guest's outline, the guidance line and the countdown."""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout

from kiosk.session.flow import State
from kiosk.session.framing_worker import Hint
from kiosk.ui.screens.base import KScreen, label, spacer
from kiosk.ui.widgets import (
    OK,
    WHITE,
    LivePreview,
    Txt,
)


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
