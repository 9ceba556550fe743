"""The kiosk app in a real Kivy window under Xvfb, driven by touch events.

Every screen is saved under artifacts/screenshots/ and checked: not blank, and showing its key text.
"""

from __future__ import annotations

import dataclasses

import cv2
import pytest

from kiosk.session.flow import State
from kiosk.session.framing_worker import Hint
from kiosk.session.store import Step
from tests.kiosk.ui.conftest import OPERATOR_PIN

pytestmark = pytest.mark.ui


def test_whole_session_by_touch(ui) -> None:
    from firmware_bridge.messages import SCENE_LEVELS, Scene

    c = ui.c
    ui.to_attract()
    executed0 = ui.sim.snapshot().executed
    ui.shot("01-attract", ["Your professional headshot", "Tap anywhere to start"])
    ui.touch_at(540, 900)  # anywhere
    ui.wait_state("language")
    ui.shot("02-language", ["Choose your language", "Deutsch", "中文"])
    ui.tap("language", "en")
    ui.wait_state("consent")
    ui.shot("03-consent", ["Before we start", "I agree"])
    assert c.session is not None
    sid = c.session.id
    assert c.store.get(sid).step is Step.CREATED, "the store session exists from the first tap"
    targets = c.framing.targets
    c.framing.targets = dataclasses.replace(targets, stillness_s=1e9)  # hold auto-capture for the shot
    ui.tap("agree")
    ui.wait_state("framing")
    assert ui.until(lambda: c.framing_result is not None and c.framing_result.box is not None, 20)
    hints = [ui.app.t(f"hint.{h.value}") for h in Hint]
    ui.shot("04-framing", ["Let's frame your photo"])
    assert any(t in hints for t in ui.texts()), ui.texts()
    c.framing.targets = targets
    c.framing.resume()
    # Framed and still: the countdown starts by itself; the lights ramp through the bridge simulator.
    ui.wait_state("countdown", 30)
    ui.shot("05-countdown", ["Look at the light above the screen"])
    want = list(SCENE_LEVELS[Scene.COUNTDOWN])
    assert ui.until(lambda: ui.sim.snapshot().levels[: len(want)] == want, 5), ui.sim.snapshot()
    assert ui.sim.snapshot().lens != 0 or ("lens", "blink") in ui.c.lights.calls
    ui.wait_state("review", 10)
    assert [f.name for f in c.store.files(sid, "capture")] == ["capture-0.jpg"]
    assert c.store.get(sid).step is Step.CAPTURED, "journaled before the review screen says it is saved"
    ui.shot("06-review", ["How does this look?", "Use this photo", "Retake (2 left)"])
    ui.tap("approve")
    ui.wait_state("style")
    # The guest appears on each backdrop as the processing thread makes the previews.
    cards = [b for b in ui.buttons() if b.action == "style"]
    assert ui.until(lambda: all(b.has_thumb for b in cards), 60), [b.has_thumb for b in cards]
    ui.shot("07-style", ["Pick a background", "Studio grey"])
    ui.processor.hold()
    try:
        ui.tap("style", "studio-grey")
        assert c.state is State.PROCESSING
        ui.shot("08-processing", ["Creating your headshot", "1 %"])
    finally:
        ui.processor.release()
    ui.wait_state("delivery", 90)
    job = c.job
    assert job is not None and job.progress == 1.0
    result = c.session.results["portrait"]
    img = cv2.imread(str(result))
    assert img is not None and img.shape[0] > img.shape[1]  # a portrait-format headshot
    terms = c.downloads.terms()
    assert terms is not None
    said = ui.app.t(f"terms.{terms.mode}", minutes=terms.minutes, downloads=terms.downloads)
    assert f"{terms.minutes} minutes" in said and said in ui.texts(), "the guest is told what the link allows"
    ui.shot("09-delivery", ["Your headshot is ready", "Done"])
    ui.tap("done")
    ui.tap("confirm_done")  # "Did you get your photo?" (tests/kiosk/ui/test_guest_reveal.py)
    ui.wait_state("thanks")
    ui.shot("10-thanks", ["Thank you!"])
    ui.leave_thanks()
    # Only what the guest's live download link refers to outlives the session, until the link ends.
    left = c.store.files(sid)
    assert {f.kind for f in left} <= {"result", "download"} and all(f.expires_at for f in left), left
    assert not c.store.files(sid, "capture")
    c.downloads.revoke_all()
    assert not [p for p in (c.store.root / sid).rglob("*") if p.is_file()], "the session's files must be gone"
    assert not any(b.has_thumb for b in cards), "no preview of the last guest may stay behind"
    assert c.flow.counters["completed"] >= 1
    assert ui.sim.snapshot().executed > executed0


def test_session_in_chinese_renders_cjk(ui) -> None:
    ui.to_attract()
    ui.touch_at(540, 900)
    ui.wait_state("language")
    ui.tap("language", "zh")
    ui.wait_state("consent")
    rgb = ui.shot("11-consent-zh", ["开始之前", "我同意"])
    # CJK glyphs are drawn (not tofu boxes): the title area holds many dark ink pixels in varied shapes.
    dark = (rgb.mean(axis=2) < 90).sum()
    assert dark > 2000
    ui.tap("cancel")
    ui.wait_state("attract")


def test_idle_timeout_returns_to_attract_and_deletes(ui) -> None:
    c = ui.c
    ui.to_attract()
    ui.touch_at(540, 900)
    ui.wait_state("language")
    ui.tap("language", "fr")
    ui.wait_state("consent")
    sid = c.session.id
    assert c.store.get(sid).step is Step.CREATED
    # The virtual camera shows a face, which counts as the guest being there for presence_max_s after a tap.
    ui.clock.advance(c.ui.timeouts.presence_max_s + c.ui.timeouts.consent_s + 1)
    ui.wait_state("attract", 5)
    assert c.store.journal.get(sid).step is Step.DELETED
    assert c.flow.history[-2][2].startswith("idle timeout on consent")


def test_retake_limit(ui) -> None:
    c = ui.c
    ui.to_attract()
    ui.touch_at(540, 900)
    ui.wait_state("language")
    ui.tap("language", "en")
    ui.wait_state("consent")
    ui.tap("agree")
    for i in range(c.ui.retake_limit + 1):
        assert ui.until(lambda i=i: c.state is not State.REVIEW or c.session.retakes == i, 5)
        if c.state is State.FRAMING and any(b.action == "shoot" for b in ui.buttons()):
            ui.tap("shoot")  # the manual shutter (else the auto-capture may already be on its way)
        ui.wait_state("review", 15)
        left = c.ui.retake_limit - i
        retake = ui.button("retake")
        if left > 0:
            assert retake.enabled and f"({left} left)" in retake.text
            ui.tap("retake")
    retake = ui.button("retake")
    assert not retake.enabled and retake.text == "No retakes left"
    ui.shot("12-review-no-retakes", ["No retakes left"])
    ui.tap("retake")  # a tap on the disabled button changes nothing
    assert c.state is State.REVIEW and c.session.retakes == c.ui.retake_limit
    # Auto-confirm after its timeout.
    ui.clock.advance(c.ui.timeouts.review_auto_confirm_s + 1)
    ui.wait_state("style", 5)
    ui.tap("cancel")
    ui.tap("confirm_cancel")  # after the capture, Cancel asks once
    ui.wait_state("attract")


def test_failsafe_recovers_after_injected_error(ui) -> None:
    c = ui.c
    ui.to_attract()
    ui.touch_at(540, 900)
    ui.wait_state("language")
    ui.tap("language", "en")
    ui.wait_state("consent")
    sid = c.session.id
    c.inject_error("boom")
    ui.wait_state("attendant_needed", 5)
    ui.shot("13-attendant", ["One moment please"])
    ui.clock.advance(c.ui.timeouts.failsafe_recover_s + 0.5)
    ui.wait_state("attract", 5)
    assert c.store.journal.get(sid).step is Step.DELETED


def test_camera_unplugged_and_back(ui) -> None:
    c = ui.c
    ui.to_attract()
    ui.touch_at(540, 900)
    ui.wait_state("language")
    ui.tap("language", "en")
    ui.wait_state("consent")
    ui.tap("agree")
    ui.wait_state("framing")
    ui.camera.unplug()
    ui.wait_state("attendant_needed", 10)
    ui.shot("14-camera-unplugged", ["One moment please", "Reconnecting the camera"])
    ui.clock.advance(600)  # a held cause waits as long as it takes
    ui.pump(5)
    assert c.state is State.ATTENDANT_NEEDED
    ui.camera.replug()
    ui.wait_state("framing", 15)  # the guest's session resumes
    assert c.session is not None
    ui.tap("cancel")
    ui.wait_state("attract")


def test_operator_menu_pin_lockout_and_wipe(ui) -> None:
    c = ui.c
    ui.to_attract()
    left = c.store.create().id  # a guest's session still in the store (e.g. its download link is live)
    c.store.write_file(left, "result", "x.jpg", b"x")
    for _ in range(c.ui.operator_taps):
        ui.touch_at(20, 1900)  # the hidden top-left corner
    assert ui.until(lambda: ui.app.sm.current == "pin", 3)
    ui.shot("15-pin", ["Operator PIN"])
    for _ in range(c.ui.pin_max_tries):
        for k in "9999":
            ui.tap("pin", k)
        ui.tap("pin", "OK")
    assert c.pin_gate.locked_for() > 0
    for k in OPERATOR_PIN:
        ui.tap("pin", k)
    ui.tap("pin", "OK")
    assert c.state is State.ATTRACT, "a locked pad must refuse even the right PIN"
    assert any("Locked" in t for t in ui.texts())
    ui.clock.advance(c.ui.pin_lockout_s + 1)
    assert ui.until(lambda: ui.app.sm.current == "attract", 3)  # the idle pad closed itself meanwhile
    ui.open_operator()
    ui.pump(5)
    ui.shot("16-operator", ["Operator", "Wipe all guest data"])
    assert any("camera: ok" in t for t in ui.texts())
    ui.tap("operator", "light_test")
    ui.tap("operator", "wipe")  # the first tap only asks (test_event_operator.py checks the wording)
    assert c.store.sessions() != []
    ui.tap("operator", "wipe")
    assert c.store.sessions() == [] and not [p for p in c.store.root.rglob("*") if p.is_file()]
    assert any(t.startswith("Wiped 1 sessions, 1 files") for t in ui.texts()), ui.texts()
    stops: list[int] = []
    real_stop = ui.app.stop
    ui.app.stop = lambda *a: stops.append(1)  # observe "leave kiosk mode" without ending the shared app
    try:
        ui.tap("operator", "leave")
        assert ui.until(lambda: bool(stops), 3)
    finally:
        ui.app.stop = real_stop
    ui.tap("operator", "close")
    ui.wait_state("attract")


def test_landscape_layout_and_touch_targets(ui) -> None:
    from kivy.core.window import Window

    from kiosk.ui.widgets import MIN_TOUCH_PX

    ui.to_attract()
    try:
        for size, tag in (((1920, 1080), "landscape"), ((1080, 1920), "portrait")):
            Window.size = size
            ui.pump(3)
            ui.app.relayout_now()
            ui.pump(3)
            assert tuple(int(v) for v in Window.size) == size
            if tag == "landscape":
                ui.shot("17-attract-landscape", ["Your professional headshot"])
            from kiosk.ui.widgets import Btn

            for name in ui.app.sm.screen_names:  # show each screen so its layout runs, then measure
                ui.app.sm.current = name
                ui.pump(3)
                screen = ui.app.sm.get_screen(name)
                for b in (w for w in screen.walk() if isinstance(w, Btn)):
                    assert b.width >= MIN_TOUCH_PX and b.height >= MIN_TOUCH_PX, (tag, name, b.text, b.size)
            ui.app._shown = ()  # hand the screen back to the controller's state
            ui.pump(3)
            assert ui.app.sm.current == "attract"
            if tag == "landscape":
                ui.touch_at(960, 540)
                ui.wait_state("language")
                ui.shot("18-language-landscape", ["Choose your language"])
                ui.tap("language", "de")
                ui.wait_state("consent")
                ui.tap("agree")
                ui.wait_state("framing")
                assert ui.until(lambda: ui.c.framing_result is not None, 10)
                rgb = ui.shot("19-framing-landscape", ["Bildausschnitt einrichten"])
                assert rgb.shape[:2] == (1080, 1920)
                ui.tap("cancel")
                ui.wait_state("attract")
    finally:
        Window.size = (1080, 1920)
        ui.pump(3)
        ui.app.relayout_now()
        ui.pump(3)


def test_hardware_start_button_through_the_bridge(ui) -> None:
    from firmware_bridge.messages import Button

    ui.to_attract()
    ui.sim.press(Button.START)
    ui.wait_state("language", 10)
    ui.tap("cancel")
    ui.wait_state("attract")
