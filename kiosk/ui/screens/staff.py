"""For staff: the attendant screen, the PIN pad and the operator menu."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.utils import escape_markup

from kiosk.app.operator import PIN_DIGITS
from kiosk.app.settings import PALETTE, apply_in_place, look_of
from kiosk.errors import ConfigError
from kiosk.pipeline.background import STYLES
from kiosk.status import Level, PartStatus
from kiosk.ui.screens.base import KScreen, label, spacer
from kiosk.ui.widgets import (
    CARD,
    INK,
    MUTED,
    PRIMARY,
    WHITE,
    Btn,
    BusyRing,
    Txt,
    hex_rgba,
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
        self.dots.text = "●" * len(self.entry) if self.entry else "  ".join("–" * PIN_DIGITS[0])  # the shortest PIN
        locked = gate.locked_for()
        if locked > 0:
            self.msg.text = f"Locked after too many wrong PINs. Try again in {int(np.ceil(locked))} s."
        elif gate.failures:
            self.msg.text = f"Wrong PIN ({gate.max_tries - gate.failures} tries left)"
        else:
            self.msg.text = "Enter the operator PIN"


class OperatorScreen(KScreen):
    """Counters, device status in colour with the fix, settings and actions (English: operator-facing)."""

    def build(self) -> None:
        """Status, the look settings, the actions; Wipe sits apart from Leave kiosk mode and asks first."""
        m = self.m
        col = self.column(spacing=m.pad * 0.3)
        col.padding = (0, m.pad * 0.8)
        col.add_widget(Txt("Operator", size_px=m.title * 0.8, bold=True, auto_height=True))
        self.counters = Txt("", size_px=m.small, halign="left", auto_height=True)
        self.devices = Txt("", size_px=m.small * 0.9, halign="left", auto_height=True, markup=True)
        col.add_widget(self.counters)
        col.add_widget(self.devices)
        self.msg = Txt("", size_px=m.small, color=PRIMARY, auto_height=True)
        col.add_widget(self.msg)
        col.add_widget(spacer())
        settings = self.app.controller.settings
        self.look = look_of(settings.current) if settings is not None else None
        self.backdrops = settings.backdrops() if settings is not None else []
        if self.look is not None:
            self._build_settings(col)
        cols = 4 if m.landscape else 2
        actions = [("Test print", "test_print"), ("Light test", "light_test"), ("Paper loaded", "paper_loaded"),
                   ("Retry sending", "retry_sending"), ("Wipe all guest data…", "wipe")]  # fmt: skip
        col.add_widget(self._grid(actions, cols))
        col.add_widget(spacer(m.pad * 0.6))
        col.add_widget(self._grid([("Leave kiosk mode", "leave"), ("Close", "close")], 2, primary="close"))
        self._age = 10.0
        self._wipe_armed_until = 0.0

    def _grid(self, actions: list[tuple[str, str]], cols: int, primary: str = "") -> GridLayout:
        m = self.m
        grid = GridLayout(cols=cols, spacing=m.pad * 0.3, size_hint_y=None)
        rows = (len(actions) + cols - 1) // cols
        grid.height = rows * m.button_h * 0.8 + (rows - 1) * m.pad * 0.3
        for text, action in actions:
            grid.add_widget(Btn(text, "operator", self.app.on_operator, arg=action, primary=action == primary,
                                size_px=m.button_text * 0.75))  # fmt: skip
        return grid

    def _build_settings(self, col: BoxLayout) -> None:
        """Style toggles, brand colour swatches, the backdrop picker and Save."""
        m = self.m
        assert self.look is not None
        col.add_widget(Txt("Styles, brand colour and backdrop", size_px=m.body * 0.8, bold=True, auto_height=True))
        self.style_btns: dict[str, Btn] = {}
        styles = GridLayout(cols=5 if m.landscape else 3, spacing=m.pad * 0.2, size_hint_y=None)
        rows = (len(STYLES) + styles.cols - 1) // styles.cols
        styles.height = rows * m.button_h * 0.7 + (rows - 1) * m.pad * 0.2
        for style in STYLES:
            b = Btn(style, "operator", self.app.on_operator, arg=f"style:{style}", primary=False,
                    size_px=m.small)  # fmt: skip
            self.style_btns[style] = b
            styles.add_widget(b)
        col.add_widget(styles)
        swatches = GridLayout(cols=len(PALETTE), spacing=m.pad * 0.2, size_hint_y=None, height=m.button_h * 0.6)
        self.swatches: dict[str, Btn] = {}
        for hexc in PALETTE:
            b = Btn("", "operator", self.app.on_operator, arg=f"color:{hexc}", fill=hex_rgba(hexc), ink=WHITE,
                    size_px=m.small)  # fmt: skip
            self.swatches[hexc] = b
            swatches.add_widget(b)
        col.add_widget(swatches)
        row = BoxLayout(spacing=m.pad * 0.3, size_hint_y=None, height=m.button_h * 0.8)
        self.backdrop_btn = Btn("", "operator", self.app.on_operator, arg="backdrop", primary=False,
                                size_px=m.small)  # fmt: skip
        row.add_widget(self.backdrop_btn)
        row.add_widget(Btn("Save settings", "operator", self.app.on_operator, arg="save", size_px=m.small))
        col.add_widget(row)
        self._show_look()

    def _show_look(self) -> None:
        look = self.look
        if look is None:
            return
        for style, b in self.style_btns.items():
            on = style in look.styles
            b.fill = PRIMARY if on else CARD
            b.color = WHITE if on else INK
            b._paint()
            b.text = f"{style} (on)" if on else style
        for hexc, b in self.swatches.items():
            b.text = "●" if hexc.lower() == look.brand_color.lower() else ""  # the brand colour in use
        name = look.custom_background.name if look.custom_background is not None else "none"
        self.backdrop_btn.text = f"Backdrop: {name}  ({len(self.backdrops)} in backdrops/)"

    def act(self, what: str) -> None:
        """One operator action (the app forwards the menu's taps here)."""
        c = self.app.controller
        if what != "wipe":
            self._wipe_armed_until = 0.0
        if what == "test_print":
            self.msg.text = c.test_print()
        elif what == "light_test":
            self.msg.text = "Light test sent: " + c.light_test()
        elif what == "paper_loaded":
            self.msg.text = c.printer.paper_loaded().capitalize() + "."
            c.attention.poll_now()
        elif what == "retry_sending":
            self.msg.text = c.retry_sending().capitalize() + "."
        elif what == "wipe":
            self._wipe(c)
        elif what == "leave":
            c.leave_kiosk()
        elif what == "close":
            c.close_operator()
        elif what.startswith(("style:", "color:")) or what == "backdrop":
            self._change_look(what)
        elif what == "save":
            self._save()

    def _wipe(self, c: Any) -> None:
        """The first tap arms, a second within 8 s wipes: every guest photo and link is gone at once."""
        now = time.monotonic()
        if now < self._wipe_armed_until:
            self._wipe_armed_until = 0.0
            self.msg.text = c.wipe_all().line().capitalize() + "."
            return
        self._wipe_armed_until = now + 8.0
        self.msg.text = "Wipe deletes every guest photo and download link now. Tap Wipe again within 8 s to confirm."

    def _change_look(self, what: str) -> None:
        look = self.look
        assert look is not None
        if what.startswith("style:"):
            style = what.split(":", 1)[1]
            styles = [s for s in look.styles if s != style] if style in look.styles else [*look.styles, style]
            look = replace(look, styles=tuple(s for s in STYLES if s in styles))
        elif what.startswith("color:"):
            look = replace(look, brand_color=what.split(":", 1)[1])
        else:  # the next backdrop in the folder, then none
            options: list[Path | None] = [*self.backdrops, None]
            at = options.index(look.custom_background) if look.custom_background in options else -1
            look = replace(look, custom_background=options[(at + 1) % len(options)])
        self.look = look
        self.msg.text = "Not saved yet: tap Save settings."
        self._show_look()

    def _save(self) -> None:
        c = self.app.controller
        assert c.settings is not None and self.look is not None
        try:
            cfg = c.settings.save(self.look)
        except (ConfigError, OSError) as err:
            self.msg.text = f"Not saved: {err}"
            return
        apply_in_place(c, cfg)
        self.app.brand_color = cfg.pipeline.brand_color
        text = f"Saved to {c.settings.path} and applied: {len(cfg.ui.styles)} styles on the style screen."
        self.app.relayout_now()  # the style screen's cards follow the new set and colour
        fresh = self.app.sm.get_screen("operator") if self.app.sm is not None else None
        if isinstance(fresh, OperatorScreen):
            fresh.msg.text = text

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
        self.devices.text = "\n".join(status_markup(k, v) for k, v in c.device_status().items())


LEVEL_INK = {Level.OK: "1E6B3A", Level.WARN: "8A5A00", Level.FAIL: "B42318", Level.OFF: "5B6673"}
LEVEL_WORD = {Level.OK: "ok", Level.WARN: "check", Level.FAIL: "PROBLEM", Level.OFF: "off"}


def status_markup(name: str, status: PartStatus) -> str:
    """One part's status line in Kivy markup: coloured by level, the fix in words on the next line."""
    level = getattr(status, "level", Level.OK)
    ink = LEVEL_INK[level]
    line = f"[color={ink}][b]{LEVEL_WORD[level]}[/b]  {escape_markup(name)}: {escape_markup(str(status))}[/color]"
    fix = getattr(status, "fix", None)
    if fix and level in (Level.WARN, Level.FAIL):
        line += f"\n[color={ink}]      fix: {escape_markup(fix)}[/color]"
    return line
