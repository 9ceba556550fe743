"""The Kivy app: renders the KioskController's state as screens, forwards taps, never blocks.

The UI thread only ticks the controller, blits the newest camera frame into a texture and updates
widgets; inference and the studio pipeline run on their own threads.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.screenmanager import FadeTransition, NoTransition, ScreenManager

from kiosk.app.controller import KioskController
from kiosk.i18n import Texts
from kiosk.session.flow import State
from kiosk.ui.screens import (
    AttendantScreen,
    AttractScreen,
    ConsentScreen,
    DeliveryScreen,
    KScreen,
    LanguageScreen,
    LiveScreen,
    Metrics,
    OperatorScreen,
    PinScreen,
    ProcessingScreen,
    ReviewScreen,
    StyleScreen,
    ThanksScreen,
)
from kiosk.ui.screens.station import EmailScreen, IdentityScreen
from kiosk.ui.sounds import Cues
from kiosk.ui.widgets import BG, DARK, register_fonts

log = logging.getLogger(__name__)

SCREENS: dict[str, type[KScreen]] = {
    "attract": AttractScreen,
    "language": LanguageScreen,
    "consent": ConsentScreen,
    "identity": IdentityScreen,
    "email": EmailScreen,
    "live": LiveScreen,
    "review": ReviewScreen,
    "style": StyleScreen,
    "processing": ProcessingScreen,
    "delivery": DeliveryScreen,
    "thanks": ThanksScreen,
    "attendant": AttendantScreen,
    "pin": PinScreen,
    "operator": OperatorScreen,
}
SCREEN_OF: dict[State, str] = {
    State.ATTRACT: "attract",
    State.LANGUAGE: "language",
    State.CONSENT: "consent",
    State.IDENTITY: "identity",
    State.EMAIL: "email",
    State.FRAMING: "live",
    State.COUNTDOWN: "live",
    State.CAPTURE: "live",
    State.REVIEW: "review",
    State.STYLE: "style",
    State.PROCESSING: "processing",
    State.DELIVERY: "delivery",
    State.THANKS: "thanks",
    State.CLEANUP: "attract",
    State.ATTENDANT_NEEDED: "attendant",
    State.OPERATOR: "operator",
}
PIN_IDLE_S = 30.0
# Guest screens that may show "Still there?" before their idle timeout, and the dialogs each screen offers.
STILL_THERE_STATES = frozenset({State.LANGUAGE, State.CONSENT, State.FRAMING, State.STYLE, State.DELIVERY})
DIALOG_STATE = {"cancel": State.STYLE, "done": State.DELIVERY}


class KioskApp(App):
    """The touchscreen app around one KioskController."""

    title = "Headshot Kiosk"

    def __init__(
        self,
        controller: KioskController,
        texts: Texts,
        brand_color: str = "#1F4E79",
        transition_s: float = 0.18,
        cjk_font: Path | None = None,
        **kw: Any,
    ) -> None:
        """Args: transition_s is the screen fade time in s (0: instant)."""
        super().__init__(**kw)
        self.controller = controller
        self.texts = texts
        self.brand_color = brand_color
        self.transition_s = transition_s
        self.font_file = register_fonts(cjk_font)
        self.sm: ScreenManager | None = None
        self._shown: tuple[Any, ...] = ()
        self._pin_opened = 0.0
        self.frame_times: list[float] = []
        self.record_frames = False
        self._last_frame = time.perf_counter()
        self._layout_size: tuple[int, int] = (0, 0)
        self.tap_guard_s = controller.ui.tap_guard_s
        self._changed_at = -1e9  # controller clock, s: when the screen or a dialog last appeared
        self.dialog: str | None = None  # a confirmation asked on the current screen ("cancel", "done")
        self.text_scale = 1.0  # the guest's "Larger text" sets ui.large_text_scale for their session
        self.cues = Cues(controller.ui.sound_cues)
        self._cue_seen: tuple[State, int] = (State.ATTRACT, 0)

    # -- Kivy lifecycle -------------------------------------------------------------------------
    def build(self) -> ScreenManager:
        """Screens for the current window; the per-frame clock."""
        Window.clearcolor = BG
        trans = FadeTransition(duration=self.transition_s) if self.transition_s > 0 else NoTransition()
        self.sm = ScreenManager(transition=trans)
        self._build_screens()
        Window.bind(size=self._on_resize)
        Clock.schedule_interval(self._frame, 0)
        return self.sm

    def on_start(self) -> None:
        """Start the camera, framing worker and lights."""
        self.controller.start()
        self._sync()

    def on_stop(self) -> None:
        """Stop the threads; the live session's data is deleted."""
        self.controller.stop()

    # -- layout ---------------------------------------------------------------------------------
    def _build_screens(self) -> None:
        assert self.sm is not None
        size = (int(Window.width), int(Window.height))
        self._layout_size = size
        m = Metrics(*size, text_scale=self.text_scale)
        current = self.sm.current if self.sm.screens else None
        self.sm.clear_widgets()
        for name, cls in SCREENS.items():
            self.sm.add_widget(cls(self, m, name=name))
        self._shown = ()
        if current:
            self.sm.current = current
        self._sync()

    def _on_resize(self, *_: Any) -> None:
        Clock.unschedule(self._relayout)
        Clock.schedule_once(self._relayout, 0.1)

    def _relayout(self, *_: Any) -> None:
        if (int(Window.width), int(Window.height)) != self._layout_size:
            self._build_screens()

    def relayout_now(self) -> None:
        """Rebuild the screens for the window's current size (orientation change)."""
        self._build_screens()

    # -- text -----------------------------------------------------------------------------------
    @property
    def language(self) -> str:
        """The guest's language (the default one between sessions)."""
        sess = self.controller.session
        return sess.language if sess is not None else self.controller.ui.default_language

    def t(self, key: str, fallback: str | None = None, **fmt: object) -> str:
        """Text in the guest's language (see Texts.t); the station mode's own wording first, where it has one."""
        mode_key = self.controller.station.plan.text_key(key)
        if mode_key != key:
            return self.texts.t(self.language, mode_key, key, **fmt)
        return self.texts.t(self.language, key, fallback, **fmt)

    # -- frame loop -----------------------------------------------------------------------------
    def screen_name(self) -> str:
        """The screen the controller's state calls for."""
        c = self.controller
        if c.state is State.ATTRACT and c.pin_open:
            return "pin"
        return SCREEN_OF[c.state]

    def guarded(self) -> bool:
        """Whether touches are ignored now: the screen or a dialog appeared less than `ui.tap_guard_s` ago."""
        return self.controller.clock() - self._changed_at < self.tap_guard_s

    def screen_changed(self) -> None:
        """What is under the guest's finger changed: start the tap guard again."""
        self._changed_at = self.controller.clock()

    def overlay_kind(self) -> str | None:
        """The dialog to show now: a confirmation the guest asked for, else "Still there?" before a timeout."""
        c = self.controller
        if self.dialog is not None and DIALOG_STATE.get(self.dialog) is not c.state:
            self.dialog = None
        if self.dialog is not None:
            return self.dialog
        if c.state in STILL_THERE_STATES and c.flow.still_there() is not None:
            return "still"
        return None

    def _sync(self) -> None:
        assert self.sm is not None
        c = self.controller
        sess = c.session
        overlay = self.overlay_kind()
        key = (c.state, self.screen_name(), self.language, sess.id if sess else None,
               sess.retakes if sess else 0, c.pin_open, overlay)  # fmt: skip
        if key == self._shown:
            return
        name = self.screen_name()
        if not self._shown or self._shown[1] != name or self._shown[-1] != overlay:
            self.screen_changed()
        self._shown = key
        if c.state is State.ATTRACT and sess is None and self.text_scale != 1.0:
            self.text_scale = 1.0  # the next guest starts with the usual text size
            self._build_screens()
            return
        screen = self.sm.get_screen(name)
        assert isinstance(screen, KScreen)
        if c.state is State.ATTRACT and sess is None:
            for other in self.sm.screens:
                if isinstance(other, KScreen):
                    other.forget_guest()  # no image of the last guest stays in a texture
                    other.set_overlay(None)
        screen.refresh()
        screen.set_overlay(overlay)
        Window.clearcolor = DARK if screen.dark else BG
        if self.sm.current != name:
            self.sm.current = name
        if name == "pin" and self._pin_opened == 0.0:
            self._pin_opened = c.clock()
        if name != "pin":
            self._pin_opened = 0.0

    def current_screen(self) -> KScreen:
        """The screen being shown."""
        assert self.sm is not None
        scr = self.sm.current_screen
        assert isinstance(scr, KScreen)
        return scr

    def _frame(self, dt: float) -> None:
        now = time.perf_counter()
        if self.record_frames:
            self.frame_times.append(now - self._last_frame)
        self._last_frame = now
        c = self.controller
        c.tick()
        if c.pin_open and self._pin_opened and c.clock() - self._pin_opened > PIN_IDLE_S:
            c.close_pin()
        self._sync()
        screen = self.current_screen()
        screen.update(dt)
        screen.update_overlay()
        self._sound_cues()
        if c.quit_requested:
            c.quit_requested = False
            self.stop()

    def _sound_cues(self) -> None:
        """A tick as each countdown number appears, the shutter as the capture starts (`ui.sound_cues`)."""
        c = self.controller
        seen = (c.state, c.countdown_left if c.state is State.COUNTDOWN else 0)
        if seen == self._cue_seen:
            return
        if c.state is State.COUNTDOWN:
            self.cues.play("tick")
        elif c.state is State.CAPTURE:
            self.cues.play("shutter")
        self._cue_seen = seen

    # -- taps -----------------------------------------------------------------------------------
    def on_tap(self, action: str, arg: str) -> None:
        """A guest button or screen tap; confirmations and the accessibility choices are the screens' own."""
        c = self.controller
        if action == "cancel" and c.state is State.STYLE:
            self.dialog = "cancel"  # the photo exists: ask once before deleting it
            c.flow.activity()
        elif action == "done" and c.state is State.DELIVERY and c.download_url:
            self.dialog = "done"  # "did you get it?" while the QR code is still there
            c.flow.activity()
        elif action in ("keep", "not_yet"):
            self.dialog = None
            c.flow.activity()
        elif action in ("confirm_cancel", "confirm_done"):
            self.dialog = None
            c.tap(action.removeprefix("confirm_"))
        elif action == "more_time":
            c.more_time()
        elif action == "large_text":
            c.flow.activity()
            self.text_scale = 1.0 if self.text_scale != 1.0 else c.ui.large_text_scale
            self._build_screens()
        else:
            c.tap(action, arg)
        self._sync()

    def on_corner_tap(self) -> None:
        """A tap in the hidden corner of the attract screen."""
        if self.controller.corner_tap():
            self._sync()

    def on_pin_key(self, _action: str, key: str) -> None:
        """A key of the operator PIN pad."""
        c = self.controller
        assert self.sm is not None
        pad = self.sm.get_screen("pin")
        assert isinstance(pad, PinScreen)
        self._pin_opened = c.clock()
        if key == "close":
            c.close_pin()
        elif key == "C":
            pad.entry = ""
        elif key == "OK":
            c.enter_pin(pad.entry)
            pad.entry = ""
        elif key.isdigit() and len(pad.entry) < 12:
            pad.entry += key
        pad.update(0.0)
        self._sync()

    def on_operator(self, _action: str, what: str) -> None:
        """An operator menu action."""
        c = self.controller
        c.flow.activity()
        assert self.sm is not None
        menu = self.sm.get_screen("operator")
        assert isinstance(menu, OperatorScreen)
        menu.act(what)  # the menu's actions and settings live with the menu (kiosk/ui/screens/staff.py)
        if self.sm.has_screen("operator"):  # settings rebuild every screen (relayout_now)
            self.sm.get_screen("operator").refresh()
        self._sync()

    # -- screenshots ----------------------------------------------------------------------------
    def grab(self) -> np.ndarray:
        """The window's pixels as an RGB uint8 array (top row first), read back with glReadPixels."""
        from kivy.graphics.opengl import GL_RGB, GL_UNSIGNED_BYTE, glPixelStorei, glReadPixels

        w, h = int(Window.width), int(Window.height)
        glPixelStorei(0x0D05, 1)  # GL_PACK_ALIGNMENT = 1: rows are tightly packed
        data = glReadPixels(0, 0, w, h, GL_RGB, GL_UNSIGNED_BYTE)
        return np.frombuffer(data, np.uint8).reshape(h, w, 3)[::-1].copy()

    def save_screenshot(self, path: Path) -> np.ndarray:
        """Write the window as a PNG (atomically) and return its pixels."""
        import cv2

        from models.store import atomic_write_bytes

        rgb = self.grab()
        ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError("cannot encode the screenshot")
        atomic_write_bytes(path, buf.tobytes())
        return rgb
