"""No lost taps (issue 13, item 2): the tap guard, where destructive buttons may sit, cancel after the capture.

Driven by touch in the real window; the guard is shown on a double tap, the layout rule checked on every
pair of screens a guest can see one after the other, in both orientations.
"""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.app.config import UIConfig
from kiosk.session.flow import State
from kiosk.session.store import Step
from tests.kiosk.ui.guest_helpers import overlap, raw_tap, rect, to_session_state

pytestmark = pytest.mark.ui

DESTRUCTIVE = {"cancel", "retake", "confirm_cancel", "confirm_done"}


def test_default_guard_is_about_half_a_second() -> None:
    assert 0.4 <= UIConfig().tap_guard_s <= 0.6
    with pytest.raises(ValueError, match="tap_guard_s"):
        UIConfig(tap_guard_s=5.0)


def test_double_tap_on_start_does_not_cancel(ui) -> None:
    c = ui.c
    ui.to_attract()
    assert ui.until(lambda: not ui.app.guarded(), 5)
    try:
        raw_tap(ui, 540, 900)  # "Tap anywhere to start"
        assert c.state is State.LANGUAGE
        # A wide guard for the test, so the second tap surely falls inside it however slow the machine.
        ui.app.tap_guard_s = 10.0
        cancel = ui.button("cancel")
        raw_tap(ui, *cancel.to_window(*cancel.center))  # the double tap's second touch, on Cancel
        assert c.state is State.LANGUAGE, "the second tap of a double tap cancelled the session"
        ui.shot("guest-double-tap-language", ["Choose your language"])
        ui.clock.advance(11.0)  # past the guard the same touch is a real Cancel
        raw_tap(ui, *cancel.to_window(*cancel.center))
        ui.wait_state("attract", 5)
    finally:
        ui.app.tap_guard_s = c.ui.tap_guard_s


def _reach(screen: Any, leads: set[str] | None) -> list[tuple[str, Any]]:
    """The buttons a finger may be on its way to when the next screen appears (all, or those of `leads`)."""
    from kiosk.ui.widgets import Btn

    out = [(b.action, b) for b in screen.walk(restrict=True) if isinstance(b, Btn) and b.opacity > 0
           and (leads is None or b.action in leads or b.primary)]
    if screen.name == "attract":
        out.append(("start", screen.cta))
    return out


def _destructive(widget: Any) -> list[tuple[str, Any]]:
    from kiosk.ui.widgets import Btn

    return [(b.action, b) for b in widget.walk(restrict=True)
            if isinstance(b, Btn) and b.action in DESTRUCTIVE and b.opacity > 0]


# (screen, what the guest tapped to leave it, or None: it moves on by itself, any button may be under a
# finger; the screen or dialog that follows)
PAIRS = [
    ("attract", None, "language"),
    ("language", {"language"}, "consent"),
    ("consent", {"agree"}, "live"),
    ("live", None, "review"),  # the countdown ends on its own
    ("review", {"retake"}, "live"),
    ("review", None, "style"),  # auto-confirm
    ("style", {"cancel"}, "style:cancel"),
    ("processing", None, "delivery"),
    ("delivery", {"done"}, "delivery:done"),
]


@pytest.mark.parametrize("size", [(1080, 1920), (1920, 1080)], ids=["portrait", "landscape"])
def test_destructive_buttons_never_where_the_last_action_was(ui, size: tuple[int, int]) -> None:
    from kivy.core.window import Window

    ui.to_attract()
    try:
        Window.size = size
        ui.pump(3)
        ui.app.relayout_now()
        ui.pump(3)
        shown: dict[str, Any] = {}
        for name in {p[0] for p in PAIRS} | {p[2].split(":")[0] for p in PAIRS}:
            ui.app.sm.current = name  # show each screen so its layout runs, then measure
            ui.pump(3)
            shown[name] = ui.app.sm.get_screen(name)
        checked = 0
        for before, leads, after in PAIRS:
            name, _, kind = after.partition(":")
            nxt = shown[name].make_overlay(kind) if kind else shown[name]
            for a_action, a in _reach(shown[before], leads):
                for d_action, d in _destructive(nxt):
                    checked += 1
                    if d_action != a_action:
                        assert not overlap(rect(a), rect(d)), (size, before, a_action, after, d_action)
        assert checked >= 10  # the rule met real pairs of buttons, not an empty list
    finally:
        Window.size = (1080, 1920)
        ui.pump(3)
        ui.app.relayout_now()
        ui.app._shown = ()
        ui.pump(3)


def test_cancel_after_capture_asks_once(ui) -> None:
    c = ui.c
    to_session_state(ui, State.STYLE)
    sid = c.session.id
    ui.tap("cancel")
    assert c.state is State.STYLE and ui.app.dialog == "cancel"
    ui.shot("guest-cancel-confirm", ["Delete your photo and leave?", "Keep my photo", "Yes, delete it"])
    ui.tap("keep")
    assert c.state is State.STYLE and ui.app.dialog is None
    assert c.store.get(sid).step is Step.CAPTURED, "keeping the photo keeps it"
    # A double tap on Cancel: the second touch lands where "Keep my photo" now is, inside the guard.
    cancel = ui.button("cancel")
    try:
        ui.touch_at(*cancel.to_window(*cancel.center))
        ui.app.tap_guard_s = 10.0
        raw_tap(ui, *cancel.to_window(*cancel.center))
        assert ui.app.dialog == "cancel" and c.state is State.STYLE
    finally:
        ui.app.tap_guard_s = c.ui.tap_guard_s
    ui.tap("confirm_cancel")
    ui.wait_state("attract")
    assert c.store.journal.get(sid).step is Step.DELETED
