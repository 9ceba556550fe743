"""For staff: the attendant screen, the PIN pad and the operator menu."""

from __future__ import annotations

import numpy as np
from kivy.uix.gridlayout import GridLayout

from kiosk.ui.screens.base import KScreen, label, spacer
from kiosk.ui.widgets import (
    MUTED,
    PRIMARY,
    Btn,
    BusyRing,
    Txt,
)


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
