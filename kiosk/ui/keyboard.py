"""An on-screen keyboard for the station's steps: an id pad (capitals, digits) and an e-mail pad.

Keys are :class:`~kiosk.ui.widgets.Btn` with action ``key`` and the character (or ``back``) as arg, so tests
press them like any button. The keyboard edits a short text it owns and calls `on_change(text)`; it never
talks to the controller itself (the screen forwards the finished text as one tap).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.uix.boxlayout import BoxLayout

from kiosk.ui.widgets import Btn

BACK = "back"
LAYOUTS: dict[str, tuple[str, ...]] = {
    # A badge or offer-letter id: capitals, digits and the separators ids use.
    "id": ("1234567890", "QWERTYUIOP", "ASDFGHJKL-", "ZXCVBNM._"),
    # An address: lower case (mail systems ignore case), digits and what addresses hold.
    "email": ("1234567890", "qwertyuiop", "asdfghjkl@", "zxcvbnm._-+"),
}
SHORTCUTS: dict[str, tuple[str, ...]] = {"id": (), "email": (".com", ".org", ".net")}


class OnScreenKeyboard(BoxLayout):
    """Rows of keys under a text of at most `max_len` characters."""

    def __init__(
        self, layout: str, on_change: Callable[[str], None], key_h: float, text_px: float, max_len: int = 64,
        **kw: Any,
    ) -> None:
        """Args: key_h is a key's height and text_px its label size, px (a key is never under 48 px)."""
        super().__init__(orientation="vertical", spacing=key_h * 0.12, **kw)
        self.layout = layout
        self.on_change = on_change
        self.max_len = max_len
        self.text = ""
        rows = [list(r) for r in LAYOUTS[layout]]
        rows[-1] = [*rows[-1], BACK]
        extra = list(SHORTCUTS[layout])
        if extra:
            rows.append(extra)
        for row in rows:
            line = BoxLayout(spacing=key_h * 0.12, size_hint_y=None, height=max(48.0, key_h))
            for key in row:
                label = "←" if key == BACK else key  # an arrow every bundled font draws (⌫ is not in them)
                line.add_widget(Btn(label, "key", self._press, arg=key, primary=False, size_px=text_px,
                                    size_hint_x=2.0 if key == BACK or len(key) > 1 else 1.0))  # fmt: skip
            self.add_widget(line)
        self.height = len(rows) * max(48.0, key_h) + (len(rows) - 1) * key_h * 0.12
        self.size_hint_y = None

    def set_text(self, text: str) -> None:
        """Start from this text (a new guest: empty)."""
        self.text = text[: self.max_len]
        self.on_change(self.text)

    def _press(self, _action: str, key: str) -> None:
        if key == BACK:
            self.text = self.text[:-1]
        elif len(self.text) + len(key) <= self.max_len:
            self.text += key
        self.on_change(self.text)
