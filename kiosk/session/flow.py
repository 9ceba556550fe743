"""The guest session as an explicit state machine: Enum states, declared transitions, a failsafe state.

Pure Python (no Kivy): the UI observes state changes through listeners and calls `tick()` from its
clock; tests drive it with an injected clock. A guest's files live in the session store from the first tap
(the flow opens the session there and closes it at CLEANUP: delivered, or deleted when abandoned); what the
guest holds in memory lives in `Session` and is dropped at CLEANUP too.
"""

from __future__ import annotations

import collections
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from kiosk.errors import KioskError

log = logging.getLogger(__name__)
HISTORY_MAX = 256  # transitions kept in SessionFlow.history (about ten sessions)
MORE_TIME_FACTOR = 2.0  # the guest's "More time": every wait of the rest of the session this many times longer


class State(enum.Enum):
    """Screens of the kiosk, in guest order, plus the failsafe and the operator menu."""

    ATTRACT = "attract"
    LANGUAGE = "language"
    CONSENT = "consent"
    IDENTITY = "identity"  # station step: the guest's employee id (typed or a badge QR), mode hr-onboarding
    EMAIL = "email"  # station step: the guest's e-mail address and opt-in, mode event
    FRAMING = "framing"
    COUNTDOWN = "countdown"
    CAPTURE = "capture"
    REVIEW = "review"
    STYLE = "style"
    PROCESSING = "processing"
    DELIVERY = "delivery"
    THANKS = "thanks"
    CLEANUP = "cleanup"
    ATTENDANT_NEEDED = "attendant_needed"
    OPERATOR = "operator"


S = State
# Declared transitions. CLEANUP (abandon: cancel or idle) and ATTENDANT_NEEDED (failsafe) are reachable
# from every state and are added below rather than repeated here.
TRANSITIONS: dict[State, frozenset[State]] = {
    S.ATTRACT: frozenset({S.LANGUAGE, S.OPERATOR}),
    S.LANGUAGE: frozenset({S.CONSENT}),
    S.CONSENT: frozenset({S.FRAMING, S.IDENTITY, S.EMAIL}),  # the station's steps come before the photo
    S.IDENTITY: frozenset({S.EMAIL, S.FRAMING}),
    S.EMAIL: frozenset({S.FRAMING}),
    S.FRAMING: frozenset({S.COUNTDOWN}),
    S.COUNTDOWN: frozenset({S.CAPTURE, S.FRAMING}),
    S.CAPTURE: frozenset({S.REVIEW}),
    S.REVIEW: frozenset({S.STYLE, S.FRAMING}),
    S.STYLE: frozenset({S.PROCESSING}),
    S.PROCESSING: frozenset({S.DELIVERY, S.FRAMING}),  # FRAMING: the photo had no usable face
    S.DELIVERY: frozenset({S.THANKS}),
    S.THANKS: frozenset(),
    S.CLEANUP: frozenset({S.ATTRACT}),
    S.ATTENDANT_NEEDED: frozenset({S.FRAMING, S.ATTRACT}),
    S.OPERATOR: frozenset(),
}
for _s in State:
    if _s is not S.CLEANUP:
        TRANSITIONS[_s] = TRANSITIONS[_s] | {S.CLEANUP}
    if _s is not S.ATTENDANT_NEEDED:
        TRANSITIONS[_s] = TRANSITIONS[_s] | {S.ATTENDANT_NEEDED}

# States in which the guest is working with the live camera: a lost camera interrupts only these.
CAMERA_STATES = frozenset({S.ATTRACT, S.LANGUAGE, S.CONSENT, S.IDENTITY, S.FRAMING, S.COUNTDOWN, S.CAPTURE})
# States from which a recovered fault can resume the guest's session at the framing screen.
RESUMABLE = frozenset({S.FRAMING, S.COUNTDOWN, S.CAPTURE})


class FlowError(KioskError):
    """A transition the state machine does not declare (a programming error, routed to the failsafe)."""


@dataclass
class Timeouts:
    """How long each screen waits before acting on its own, s (None: never)."""

    idle_s: dict[State, float | None]
    review_auto_confirm_s: float
    thanks_s: float
    failsafe_recover_s: float
    processing_max_s: float
    still_there_s: float = 10.0  # the "Still there?" countdown before an idle timeout
    presence_max_s: float = 240.0  # a face counts as activity this long after the last tap (0: never)


def default_timeouts() -> Timeouts:
    """Timeouts used when no config is given (tests override them)."""
    return Timeouts(
        idle_s={
            S.LANGUAGE: 30.0,
            S.CONSENT: 45.0,
            S.FRAMING: 60.0,
            S.COUNTDOWN: None,
            S.CAPTURE: None,
            S.STYLE: 45.0,
            S.DELIVERY: 90.0,
            S.OPERATOR: 120.0,
            S.IDENTITY: 90.0,
            S.EMAIL: 90.0,
        },
        review_auto_confirm_s=20.0,
        thanks_s=8.0,
        failsafe_recover_s=10.0,
        processing_max_s=120.0,
    )


class SessionHome(Protocol):
    """Where a guest's files live (the session store): a session is opened at the first tap, closed at cleanup."""

    def begin(self) -> str:
        """Open a new guest session; its id."""
        ...

    def finish(self, session_id: str, completed: bool) -> object:
        """Close it: completed sessions are delivered (retention applies), abandoned ones are deleted now."""
        ...


@dataclass
class Session:
    """What one guest holds in memory (their files are in the store under `id`); dropped at CLEANUP."""

    id: str
    started: float
    language: str = "en"
    consent: bool = False
    retakes: int = 0
    capture: np.ndarray | None = None  # BGR uint8 image of the approved/current capture
    style: str | None = None
    results: dict[str, Path] = field(default_factory=dict)
    time_factor: float = 1.0  # MORE_TIME_FACTOR once the guest asked for more time


Listener = Callable[[State, State, str], None]


class SessionFlow:
    """The state machine. Call `tick()` regularly; call the guest-action methods from the UI."""

    def __init__(
        self,
        home: SessionHome,
        timeouts: Timeouts | None = None,
        retake_limit: int = 2,
        clock: Callable[[], float] = time.monotonic,
        on_cleanup: Callable[[Session], None] | None = None,
    ) -> None:
        """Start in ATTRACT.

        Args:
            home: the session store: opens a session at the first tap, closes it at cleanup.
            timeouts: per-screen timeouts, s.
            retake_limit: how many retakes a guest may ask for (0: none).
            clock: monotonic seconds; injected by tests.
            on_cleanup: called with the session before its data is deleted (delivery hooks, counters).
        """
        self.home = home
        self.timeouts = timeouts or default_timeouts()
        self.retake_limit = retake_limit
        self.clock = clock
        self.on_cleanup = on_cleanup
        self.state = S.ATTRACT
        self.entered = clock()
        self.last_activity = self.entered
        self.last_presence = self.entered  # the last time a face near the camera counted as activity
        self.session: Session | None = None
        self.causes: dict[str, bool] = {}  # cause -> held (clears only by clear()) or one-shot
        self.interrupted: State | None = None
        self.counters = {"sessions": 0, "completed": 0, "abandoned": 0, "failsafe": 0}
        self._listeners: list[Listener] = []
        # The last transitions, for logs and tests; bounded so a kiosk running for days does not grow.
        self.history: collections.deque[tuple[State, State, str]] = collections.deque(maxlen=HISTORY_MAX)

    # -- observation -------------------------------------------------------------------------
    def listen(self, fn: Listener) -> None:
        """Call fn(old, new, reason) after every transition."""
        self._listeners.append(fn)

    def unlisten(self, fn: Listener) -> None:
        """Stop calling fn (no error when it was not listening)."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    def elapsed(self) -> float:
        """Seconds spent in the current state."""
        return self.clock() - self.entered

    def idle_for(self, presence: bool = True) -> float:
        """Seconds since the last guest activity or state change (a counted face is activity, unless not `presence`)."""
        last = max(self.last_activity, self.last_presence) if presence else self.last_activity
        return self.clock() - last

    def idle_limit(self) -> float | None:
        """The current screen's idle timeout (to the attract screen), s, stretched by "More time"; None: none."""
        limit = self.timeouts.idle_s.get(self.state)
        if limit is None:
            return None
        return limit * (self.session.time_factor if self.session is not None else 1.0)

    def idle_left(self) -> float | None:
        """Seconds until the idle timeout abandons the session (None on screens without one)."""
        limit = self.idle_limit()
        return None if limit is None else max(0.0, limit - self.idle_for())

    def still_there(self) -> float | None:
        """Seconds left while "Still there?" should count down (at most the last third of the wait), else None."""
        limit, left = self.idle_limit(), self.idle_left()
        if limit is None or left is None:
            return None
        return left if left <= min(self.timeouts.still_there_s, limit / 3) else None

    def review_left(self) -> float:
        """Seconds until the review screen approves the capture on its own (taps only: a face does not wait)."""
        limit = self.timeouts.review_auto_confirm_s * (self.session.time_factor if self.session else 1.0)
        return max(0.0, limit - self.idle_for(presence=False))

    @property
    def can_retake(self) -> bool:
        """Whether the guest may still ask for another capture."""
        return self.session is not None and self.session.retakes < self.retake_limit

    # -- transitions -------------------------------------------------------------------------
    def go(self, new: State, reason: str = "") -> None:
        """Move to `new`; raise FlowError when the transition is not declared."""
        old = self.state
        if new not in TRANSITIONS[old]:
            raise FlowError(f"transition {old.value} -> {new.value} is not declared ({reason})")
        if new is S.LANGUAGE and old is S.ATTRACT:
            self._new_session()
        self.state = new
        self.entered = self.last_activity = self.last_presence = self.clock()
        self.history.append((old, new, reason))
        log.info("session state %s -> %s (%s)", old.value, new.value, reason)
        for fn in list(self._listeners):
            fn(old, new, reason)
        if new is S.CLEANUP:
            self._cleanup(reason)
            self.go(S.ATTRACT, "cleanup done")

    def activity(self) -> None:
        """The guest touched something: restart the idle timer."""
        self.last_activity = self.clock()

    def presence(self) -> None:
        """A guest's face is near the camera: activity, up to `presence_max_s` after the last tap.

        A face alone cannot hold a session for ever (a queue behind the kiosk, a poster left in view): past
        that, "Still there?" asks for a tap.
        """
        now = self.clock()
        if now - self.last_activity <= self.timeouts.presence_max_s:
            self.last_presence = now

    def more_time(self) -> None:
        """The guest asked for more time: every idle wait of this session is MORE_TIME_FACTOR times longer."""
        if self.session is not None:
            self.session.time_factor = MORE_TIME_FACTOR
        self.activity()

    def _new_session(self) -> None:
        self.session = Session(id=self.home.begin(), started=self.clock())
        self.counters["sessions"] += 1

    def _cleanup(self, reason: str) -> None:
        sess, self.session = self.session, None
        if sess is None:
            return
        self.counters["completed" if reason == "completed" else "abandoned"] += 1
        if self.on_cleanup is not None:
            try:
                self.on_cleanup(sess)
            except Exception:  # reason: a failing hook must never keep guest data on disk
                log.exception("cleanup hook failed")
        try:
            self.home.finish(sess.id, completed=reason == "completed")
        except Exception:  # reason: the store's recovery and retention finish what this could not
            log.exception("closing the session in the store failed")
        sess.capture = None
        sess.results.clear()

    # -- guest actions -----------------------------------------------------------------------
    def start(self) -> None:
        """Attract screen tapped."""
        self.go(S.LANGUAGE, "start tapped")

    def choose_language(self, lang: str) -> None:
        """Language chosen."""
        assert self.session is not None
        self.session.language = lang
        self.go(S.CONSENT, f"language {lang}")

    def accept_consent(self, then: State = S.FRAMING) -> None:
        """Consent given: on to `then` (framing, or the station's first step)."""
        assert self.session is not None
        self.session.consent = True
        self.go(then, "consent given")

    def cancel(self, reason: str = "cancelled") -> None:
        """Guest abandoned (cancel button or decline consent): delete everything, back to attract."""
        self.go(S.CLEANUP, reason)

    def framed(self) -> None:
        """The framing worker says the guest is framed and still."""
        self.go(S.COUNTDOWN, "framed and still")

    def lost_framing(self) -> None:
        """The guest left the frame during the countdown."""
        self.go(S.FRAMING, "guest moved out of frame")

    def captured(self, bgr: np.ndarray) -> None:
        """A capture was taken."""
        assert self.session is not None
        self.session.capture = bgr
        self.go(S.REVIEW, "captured")

    def approve(self, reason: str = "approved") -> None:
        """Capture approved."""
        self.go(S.STYLE, reason)

    def retake(self) -> bool:
        """Ask for another capture; False (no change) once the limit is reached."""
        if not self.can_retake:
            return False
        assert self.session is not None
        self.session.retakes += 1
        self.session.capture = None
        self.go(S.FRAMING, f"retake {self.session.retakes}")
        return True

    def choose_style(self, style: str) -> None:
        """Style chosen: processing starts."""
        assert self.session is not None
        self.session.style = style
        self.go(S.PROCESSING, f"style {style}")

    def unusable(self, reason: str) -> None:
        """The pipeline found no usable face in the capture: back to framing for another try."""
        assert self.session is not None
        self.session.capture = None
        self.go(S.FRAMING, f"no usable face ({reason}), retake")

    def processed(self) -> None:
        """The pipeline finished."""
        self.go(S.DELIVERY, "processing done")

    def done(self) -> None:
        """Guest finished on the delivery screen."""
        self.go(S.THANKS, "done")

    def open_operator(self) -> None:
        """Operator authenticated from the attract screen."""
        self.go(S.OPERATOR, "operator")

    def close_operator(self) -> None:
        """Operator left the menu."""
        self.go(S.CLEANUP, "operator closed")

    # -- failsafe ----------------------------------------------------------------------------
    def fail(self, cause: str, held: bool = False) -> None:
        """Route to ATTENDANT_NEEDED.

        Args:
            cause: short machine name of the cause ("camera", "bridge", "error:pipeline").
            held: True while a condition persists (cleared by clear()); False for a one-shot error
                that recovers after `failsafe_recover_s`.
        """
        first = self.state is not S.ATTENDANT_NEEDED
        self.causes[cause] = held or self.causes.get(cause, False)
        if first:
            self.interrupted = self.state
            self.counters["failsafe"] += 1
            self.go(S.ATTENDANT_NEEDED, cause)
        else:
            self.entered = self.clock()

    def clear(self, cause: str) -> None:
        """A held cause went away; recover when no cause is left."""
        if self.causes.pop(cause, None) is not None:
            self._maybe_recover()

    def _maybe_recover(self) -> None:
        if self.state is not S.ATTENDANT_NEEDED or any(self.causes.values()):
            return
        if (
            any(not held for held in self.causes.values())
            and self.elapsed() < self.timeouts.failsafe_recover_s
        ):
            return
        self.causes.clear()
        interrupted, self.interrupted = self.interrupted, None
        if interrupted in RESUMABLE and self.session is not None:
            self.go(S.FRAMING, "recovered, resuming")
        elif interrupted is S.ATTRACT or self.session is None:
            self.go(S.ATTRACT, "recovered")
        else:
            self.go(S.CLEANUP, "recovered, session abandoned")

    # -- time ---------------------------------------------------------------------------------
    def tick(self) -> None:
        """Act on timeouts; call this at least a few times a second."""
        st, t = self.state, self.timeouts
        if st is S.ATTENDANT_NEEDED:
            self._maybe_recover()
        elif st is S.REVIEW:
            if self.review_left() <= 0:
                self.approve("auto-confirmed")
        elif st is S.THANKS:
            if self.elapsed() >= t.thanks_s:
                self.go(S.CLEANUP, "completed")
        elif st is S.PROCESSING:
            if self.elapsed() >= t.processing_max_s:
                self.fail("error:processing-timeout")
        else:
            limit = self.idle_limit()
            if limit is not None and self.idle_for() >= limit:
                self.go(S.CLEANUP, f"idle timeout on {st.value}")
