"""Accessibility (issue 13, item 9): guest actions within reach, text contrast measured on the screenshots,
sound cues, larger text.

Contrast is measured on the pixels Kivy drew, not on the colour constants: for every visible text on a guest
screen, the text's rectangle in the screenshot, its commonest colour as the background, the glyph cores'
colour as the text (tests/kiosk/ui/guest_helpers.text_contrast).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from kiosk.session.flow import State
from tests.kiosk.ui.guest_helpers import rect, text_contrast, to_session_state

pytestmark = pytest.mark.ui
# No sound card here: SDL's dummy driver opens a real mixer that plays into nothing.
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

MIN_CONTRAST = 4.5
GUEST_SCREENS = ("language", "consent", "live", "review", "style", "delivery")


def _labels(screen: Any) -> list[Any]:
    from kivy.uix.label import Label

    from kiosk.ui.widgets import Btn

    out = []
    for w in screen.walk(restrict=True):
        if not isinstance(w, Label) or not w.text.strip() or w.width < 10 or w.height < 10:
            continue
        if isinstance(w, Btn) and not w.enabled:
            continue  # an inactive control is exempt (WCAG 1.4.3); it says why in words elsewhere
        if getattr(w, "outline_width", 0):
            continue  # the countdown's digits over the camera picture carry their own dark outline
        if any(p.opacity == 0 for p in _parents(w)):
            continue
        out.append(w)
    return out


def _parents(w: Any) -> list[Any]:
    out = []
    while w is not None and w not in out and len(out) < 64:  # the root window is its own parent
        out.append(w)
        w = w.parent
    return out


def _check_contrast(ui: Any, name: str) -> int:
    from kiosk.ui.widgets import Btn, StyleCard

    rgb = ui.shot(name)
    measured = 0
    screen = ui.app.current_screen()
    # Under a dimmed dialog the screen is not what the guest reads or acts on: the dialog's texts are measured.
    dimmed = screen.overlay is not None and screen.overlay_kind in ("still", "cancel")
    for w in _labels(screen.overlay if dimmed else screen):
        if isinstance(w, StyleCard):
            # A style's name is written on its card's white band; the preview above it (the backdrop's colour
            # around the guest) is not the text's background, and covers more of the card than the band does.
            x, y, bw, bh = w.name_band
            wx, wy = w.to_window(x, y)
            got = text_contrast(rgb, (float(wx), float(wy), bw, bh), inset=10)
        else:
            got = text_contrast(rgb, rect(w), inset=10 if isinstance(w, Btn) else 0)
        if got is None:
            continue
        ratio, _ink = got
        measured += 1
        assert ratio >= MIN_CONTRAST, f"{name}: '{w.text[:40]}' has contrast {ratio:.2f}:1"
    return measured


def test_text_contrast_on_every_guest_screen(ui) -> None:
    c = ui.c
    ui.to_attract()
    measured = 0
    for i in range(3):  # the call to action breathes: three moments of it
        ui.pump(7 * i)
        measured += _check_contrast(ui, f"guest-contrast-attract-{i}")
    to_session_state(ui, State.LANGUAGE)
    measured += _check_contrast(ui, "guest-contrast-language")
    ui.tap("language", "en")
    ui.wait_state("consent")
    measured += _check_contrast(ui, "guest-contrast-consent")
    ui.tap("cancel")
    ui.wait_state("attract")
    to_session_state(ui, State.STYLE)
    cards = [b for b in ui.buttons() if b.action == "style"]
    assert ui.until(lambda: all(b.has_thumb for b in cards), 60)
    measured += _check_contrast(ui, "guest-contrast-style")  # names on the light, grey and brand cards
    ui.tap("cancel")
    measured += _check_contrast(ui, "guest-contrast-style-confirm")
    ui.tap("keep")
    t = c.ui.timeouts
    with ui.nobody_in_view():
        ui.clock.advance(t.style_s - t.still_there_s + 1)  # "Still there?" over the style screen
        assert ui.until(lambda: ui.app.overlay_kind() == "still", 5)
        with ui.clock.held():  # a slow look on a busy machine must not time the guest out
            measured += _check_contrast(ui, "guest-contrast-still-there")
        ui.tap("more_time")
    ui.tap("style", "white")
    ui.wait_state("delivery", 120)
    measured += _check_contrast(ui, "guest-contrast-delivery")
    ui.tap("done")
    ui.tap("confirm_done")
    ui.wait_state("thanks")
    measured += _check_contrast(ui, "guest-contrast-thanks")
    assert measured >= 25, measured


def test_guest_actions_within_the_lower_two_thirds_in_portrait(ui) -> None:
    from kivy.core.window import Window

    from kiosk.ui.widgets import Btn

    ui.to_attract()
    assert tuple(Window.size) == (1080, 1920)
    reach = Window.height * 2 / 3
    counted = 0
    for name in GUEST_SCREENS:
        ui.app.sm.current = name
        ui.pump(3)
        screen = ui.app.sm.get_screen(name)
        dialogs = [screen.make_overlay(k) for k in ("still", "cancel", "done")]
        for widget in [screen, *[d for d in dialogs if d is not None]]:
            for b in (w for w in widget.walk(restrict=True) if isinstance(w, Btn)):
                _x, y, _w, h = rect(b)
                counted += 1
                assert y + h <= reach, (name, b.action, b.text, y + h, reach)
    ui.app._shown = ()
    ui.pump(3)
    assert counted >= 20


def test_sound_cues_on_countdown_and_capture(ui) -> None:
    from kiosk.ui.sounds import Cues

    c = ui.c
    ui.to_attract()
    saved = ui.app.cues
    ui.app.cues = cues = Cues(True)  # ui.sound_cues = true for this test
    try:
        # Under Xvfb there is no sound card: SDL's dummy driver plays into nothing, so what is checked is
        # that both cues loaded as real sounds and were played at the right moments.
        assert cues.loaded == ["shutter", "tick"]
        to_session_state(ui, State.REVIEW)
        assert cues.played.count("tick") == c.ui.countdown_s and cues.played[-1] == "shutter", cues.played
    finally:
        ui.app.cues = saved
    ui.to_attract()


def test_off_by_default_nothing_plays(ui) -> None:
    from kiosk.app.config import UIConfig
    from kiosk.ui.sounds import Cues

    assert UIConfig().sound_cues is False
    cues = Cues(False)
    cues.play("tick")
    assert cues.played == [] and cues.loaded == []


def test_larger_text_for_one_session(ui) -> None:
    c = ui.c
    to_session_state(ui, State.LANGUAGE)
    before = ui.app.current_screen().m.body
    ui.tap("large_text")
    screen = ui.app.current_screen()
    assert screen.m.body == pytest.approx(before * c.ui.large_text_scale)
    assert _check_contrast(ui, "guest-larger-text-language") > 3
    ui.tap("language", "en")
    ui.wait_state("consent")
    assert ui.app.current_screen().m.text_scale == c.ui.large_text_scale
    ui.shot("guest-larger-text-consent", ["Before we start", "I agree"])
    ui.tap("cancel")
    ui.wait_state("attract")
    ui.pump(3)
    assert ui.app.current_screen().m.text_scale == 1.0, "the next guest starts with the usual size"
