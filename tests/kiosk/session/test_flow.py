"""The session state machine: declared transitions, timeouts, retake limit, failsafe recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.session.flow import TRANSITIONS, FlowError, SessionFlow, State, default_timeouts
from kiosk.session.store import SessionStore, Step


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SessionStore]:
    with SessionStore(tmp_path / "data") as st:
        yield st


@pytest.fixture
def flow(store: SessionStore, clock: FakeClock) -> SessionFlow:
    return SessionFlow(store, default_timeouts(), retake_limit=1, clock=clock)


def _guest_files(store: SessionStore, sid: str) -> list[Path]:
    return [p for p in (store.root / sid).rglob("*") if p.is_file()]


def _to_review(flow: SessionFlow) -> None:
    flow.start()
    flow.choose_language("fr")
    flow.accept_consent()
    flow.framed()
    flow.go(State.CAPTURE, "countdown done")
    flow.captured(b"img")


def test_whole_session_is_delivered_and_its_files_go(
    flow: SessionFlow, store: SessionStore, clock: FakeClock
) -> None:
    _to_review(flow)
    assert flow.session is not None and flow.session.language == "fr"
    sid = flow.session.id
    assert store.get(sid).step is Step.CREATED, "the store session exists from the first tap"
    store.write_file(sid, "capture", "capture.jpg", b"x")
    flow.approve()
    flow.choose_style("white")
    flow.processed()
    flow.done()
    assert flow.state is State.THANKS
    clock.advance(flow.timeouts.thanks_s + 0.1)
    flow.tick()
    assert flow.state is State.ATTRACT
    assert _guest_files(store, sid) == [] and store.journal.count_reached(Step.DELIVERED) == 1
    assert flow.session is None
    assert flow.counters["completed"] == 1 and flow.counters["abandoned"] == 0


def test_undeclared_transition_is_refused(flow: SessionFlow) -> None:
    with pytest.raises(FlowError, match="attract -> review"):
        flow.go(State.REVIEW)
    assert flow.state is State.ATTRACT


def test_every_state_can_abandon_and_fail() -> None:
    for st in State:
        if st is not State.CLEANUP:
            assert State.CLEANUP in TRANSITIONS[st]
        if st is not State.ATTENDANT_NEEDED:
            assert State.ATTENDANT_NEEDED in TRANSITIONS[st]


@pytest.mark.parametrize("state", [State.LANGUAGE, State.CONSENT, State.FRAMING, State.STYLE, State.DELIVERY])
def test_idle_timeout_returns_to_attract(
    flow: SessionFlow, store: SessionStore, clock: FakeClock, state: State
) -> None:
    path = [State.LANGUAGE, State.CONSENT, State.FRAMING, State.COUNTDOWN, State.CAPTURE, State.REVIEW,
            State.STYLE, State.PROCESSING, State.DELIVERY]
    for st in path:
        flow.go(st)
        if st is state:
            break
    assert flow.session is not None
    sid = flow.session.id
    limit = flow.timeouts.idle_s[state]
    assert limit is not None
    clock.advance(limit - 1)
    flow.activity()  # a touch restarts the timer
    clock.advance(limit - 0.5)
    flow.tick()
    assert flow.state is state
    clock.advance(1.0)
    flow.tick()
    assert flow.state is State.ATTRACT
    assert store.journal.get(sid).step is Step.DELETED, "an abandoned session is deleted at once"
    assert flow.counters["abandoned"] == 1


def test_review_auto_confirms(flow: SessionFlow, clock: FakeClock) -> None:
    _to_review(flow)
    clock.advance(flow.timeouts.review_auto_confirm_s)
    flow.tick()
    assert flow.state is State.STYLE
    assert flow.history[-1][2] == "auto-confirmed"


def test_retake_limit(flow: SessionFlow) -> None:
    _to_review(flow)
    assert flow.can_retake
    assert flow.retake() is True
    assert flow.state is State.FRAMING
    flow.framed()
    flow.go(State.CAPTURE)
    flow.captured(b"img2")
    assert not flow.can_retake
    assert flow.retake() is False
    assert flow.state is State.REVIEW


def test_held_fault_recovers_when_cleared_and_resumes_framing(flow: SessionFlow, clock: FakeClock) -> None:
    flow.start()
    flow.choose_language("en")
    flow.accept_consent()
    flow.framed()
    flow.fail("camera", held=True)
    assert flow.state is State.ATTENDANT_NEEDED
    clock.advance(600)
    flow.tick()
    assert flow.state is State.ATTENDANT_NEEDED  # held: waits however long it takes
    flow.clear("camera")
    assert flow.state is State.FRAMING
    assert flow.session is not None  # the guest keeps their session


def test_one_shot_error_recovers_after_delay_to_attract(
    flow: SessionFlow, store: SessionStore, clock: FakeClock
) -> None:
    _to_review(flow)
    flow.approve()
    flow.choose_style("white")
    assert flow.session is not None
    sid = flow.session.id
    flow.fail("error:pipeline")
    flow.tick()
    assert flow.state is State.ATTENDANT_NEEDED
    clock.advance(flow.timeouts.failsafe_recover_s)
    flow.tick()
    assert flow.state is State.ATTRACT
    assert store.journal.get(sid).step is Step.DELETED


def test_two_causes_need_both_cleared(flow: SessionFlow) -> None:
    flow.fail("camera", held=True)
    flow.fail("bridge", held=True)
    flow.clear("camera")
    assert flow.state is State.ATTENDANT_NEEDED
    flow.clear("bridge")
    assert flow.state is State.ATTRACT


def test_processing_timeout_routes_to_failsafe(flow: SessionFlow, clock: FakeClock) -> None:
    _to_review(flow)
    flow.approve()
    flow.choose_style("white")
    clock.advance(flow.timeouts.processing_max_s + 1)
    flow.tick()
    assert flow.state is State.ATTENDANT_NEEDED


def test_cleanup_hook_failure_still_deletes(store: SessionStore, clock: FakeClock) -> None:
    def boom(_s: object) -> None:
        raise RuntimeError("hook broke")

    flow = SessionFlow(store, default_timeouts(), clock=clock, on_cleanup=boom)
    flow.start()
    assert flow.session is not None
    sid = flow.session.id
    store.write_file(sid, "capture", "capture-0.jpg", b"x")
    flow.cancel()
    assert _guest_files(store, sid) == [] and flow.state is State.ATTRACT


def test_unusable_capture_goes_back_to_framing(flow: SessionFlow) -> None:
    _to_review(flow)
    flow.approve()
    flow.choose_style("white")
    flow.unusable("no_face")
    assert flow.state is State.FRAMING
    assert flow.session is not None and flow.session.capture is None
