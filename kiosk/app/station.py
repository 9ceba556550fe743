"""The station's steps in a session: the id step (typed or a badge QR), the e-mail step, and the hand-over.

A :class:`Station` listens to the state machine (it is not wired into it): after consent it names the next
step (:meth:`Station.next_after`), it handles the steps' taps, a :class:`BadgeScanner` thread reads QR codes
from the live frames during the id step, and on the delivery screen it queues the approved headshot with
the outboxes (hand-off under the id, e-mail to the address, the opt-in on the lead list) and says where the
photo went. What the guest typed is written to the session store at once (kind ``contact``, deleted at
session end); the station keeps only what the delivery screen shows while it is shown. No Kivy here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.app.modes import WALK_IN, Plan, describe, plan_for
from kiosk.app.outboxes import Outboxes
from kiosk.camera.base import CameraThread
from kiosk.config import KioskConfig
from kiosk.delivery.config import HandoffConfig
from kiosk.delivery.handoff import identity_from_frame, validate_identity
from kiosk.delivery.mail import valid_address
from kiosk.errors import InputError, KioskError
from kiosk.session.flow import SessionFlow, State
from kiosk.session.store import SessionStore, StorageFull
from kiosk.status import PartStatus

log = logging.getLogger(__name__)
SCAN_PERIOD_S = 0.15  # the badge scanner looks at a frame this often (one QR detection costs ~10-40 ms)
IDENTITY_FILE = "identity.txt"
EMAIL_FILE = "email.txt"


class BadgeScanner:
    """A thread reading QR codes (and 1-D barcodes) from the newest camera frame while resumed."""

    def __init__(self, camera: CameraThread, period_s: float = SCAN_PERIOD_S) -> None:
        """Args: period_s is the time between two looks, s."""
        self.camera = camera
        self.period_s = period_s
        self._active = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._found: tuple[int, str] | None = None  # (number, text): a new number for every code read
        self._count = 0
        self._thread: threading.Thread | None = None
        self.scans = 0

    def start(self) -> BadgeScanner:
        """Start the thread (paused)."""
        self._stop.clear()
        self._active.clear()
        self._thread = threading.Thread(target=self._run, name="badge-scanner", daemon=True)
        self._thread.start()
        return self

    def resume(self) -> None:
        """Look at frames (entering the id step); forget what an earlier guest showed."""
        with self._lock:
            self._found = None
        self._active.set()

    def pause(self) -> None:
        """Stop looking (leaving the id step)."""
        self._active.clear()
        with self._lock:
            self._found = None

    def stop(self) -> None:
        """End the thread."""
        self._stop.set()
        self._active.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def latest(self) -> tuple[int, str] | None:
        """The latest code read since resume(), numbered."""
        with self._lock:
            return self._found

    def _run(self) -> None:
        last_seq = -1
        while not self._stop.is_set():
            self._active.wait()
            if self._stop.is_set():
                return
            frame = self.camera.latest()
            if frame is not None and frame.seq != last_seq:
                last_seq = frame.seq
                try:
                    text = read_badge(frame.image)
                except Exception:  # reason: a supervised loop; a bad frame must not end the scanning
                    log.exception("badge scan failed")
                    text = None
                self.scans += 1
                if text is not None and self._active.is_set():
                    with self._lock:
                        if self._found is None or self._found[1] != text:
                            self._count += 1
                            self._found = (self._count, text)
            self._stop.wait(self.period_s)


def read_badge(bgr: np.ndarray) -> str | None:
    """A code's text in a camera frame, also when the camera mirrors its image (some UVC cameras do)."""
    return identity_from_frame(bgr) or identity_from_frame(np.ascontiguousarray(cv2.flip(bgr, 1)))


@dataclass(frozen=True)
class Sent:
    """One hand-over the delivery screen reports: channel, the store session holding it, what to show."""

    channel: str  # handoff | mail
    holder: str
    shown: str  # the id, or the masked address: the guest's own, shown to them only on this screen


def mask_address(address: str) -> str:
    """a•••@example.org: enough for the guest to recognise, little for the next one to read."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


class Station:
    """The station steps of one kiosk, following its state machine."""

    def __init__(
        self,
        plan: Plan,
        store: SessionStore,
        outboxes: Outboxes | None = None,
        camera: CameraThread | None = None,
        handoff: HandoffConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the steps (the scanner thread starts with attach()).

        Args:
            plan: the mode's steps and channels.
            store: the session store (what the guest typed goes there).
            outboxes: the running outboxes (None: no e-mail, no hand-off).
            camera: the camera thread the badge scanner reads (None: typing only).
            handoff: `[delivery.handoff]` (the id pattern).
            clock: monotonic seconds.
        """
        self.plan = plan
        self.store = store
        self.outboxes = outboxes or Outboxes(store)
        self.handoff = handoff or HandoffConfig()
        self.clock = clock
        self.scanner = BadgeScanner(camera) if camera is not None and plan.identity_step and plan.badge_scan else None
        self.flow: SessionFlow | None = None
        self.error: str | None = None  # i18n key of the step's last problem
        self.opted_in = False
        self.sent: list[Sent] = []
        self._badge_seen = 0

    @classmethod
    def from_config(
        cls, cfg: KioskConfig, store: SessionStore, outboxes: Outboxes | None, camera: CameraThread | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Station:
        """The station a config describes."""
        return cls(plan_for(cfg), store, outboxes, camera, cfg.delivery.handoff, clock)

    @classmethod
    def walk_in(cls, store: SessionStore) -> Station:
        """No station steps (print and QR only)."""
        return cls(WALK_IN, store)

    def attach(self, flow: SessionFlow) -> None:
        """Follow this state machine; start the badge scanner."""
        self.flow = flow
        flow.listen(self._on_transition)
        for st in (State.IDENTITY, State.EMAIL):
            flow.timeouts.idle_s[st] = self.plan.step_s
        if self.scanner is not None:
            self.scanner.start()
        log.info("station: %s", describe(self.plan))

    def stop(self) -> None:
        """Stop the scanner thread."""
        if self.scanner is not None:
            self.scanner.stop()

    def detach(self) -> None:
        """Stop following the state machine (another station takes over between sessions)."""
        if self.flow is not None:
            self.flow.unlisten(self._on_transition)
            self.flow = None
        self.stop()

    # -- steps ------------------------------------------------------------------------------------
    def next_after(self, state: State) -> State:
        """The screen that follows state (consent, the id step, the e-mail step) in this mode."""
        order = [State.CONSENT]
        if self.plan.identity_step:
            order.append(State.IDENTITY)
        if self.plan.email_step:
            order.append(State.EMAIL)
        order.append(State.FRAMING)
        return order[order.index(state) + 1] if state in order else State.FRAMING

    def _flow(self) -> SessionFlow:
        assert self.flow is not None  # reason: attach() runs when the controller is built
        return self.flow

    def tap(self, action: str, arg: str) -> bool:
        """A step's tap (typing, identity, email, optin, skip); False when it is not one."""
        flow = self._flow()
        st = flow.state
        if action == "typing" and st in (State.IDENTITY, State.EMAIL):
            self.error = None  # the guest is correcting: the last complaint no longer applies
        elif action == "identity" and st is State.IDENTITY:
            self._identity(arg, "typed")
        elif action == "email" and st is State.EMAIL:
            self._email(arg)
        elif action == "optin" and st is State.EMAIL:
            self.opted_in = not self.opted_in
        elif action == "skip" and st is State.EMAIL:
            self.error = None
            flow.go(self.next_after(State.EMAIL), "e-mail skipped")
        else:
            return False
        return True

    def tick(self) -> None:
        """Take a badge the scanner read (the UI clock calls this)."""
        flow = self._flow()
        if self.scanner is None or flow.state is not State.IDENTITY:
            return
        found = self.scanner.latest()
        if found is not None and found[0] != self._badge_seen:
            self._badge_seen = found[0]
            flow.activity()
            self._identity(found[1], "badge")

    def _identity(self, text: str, source: str) -> None:
        flow = self._flow()
        try:
            ident = validate_identity(text[:200], self.handoff)  # bounded: ids are ≤ 64 characters anyway
        except InputError:
            self.error = "station.id.bad_badge" if source == "badge" else "station.id.invalid"
            return
        if not self._keep(IDENTITY_FILE, ident):
            return
        log.info("station: id taken (%s)", source)
        flow.go(self.next_after(State.IDENTITY), f"id {source}")

    def _email(self, text: str) -> None:
        address = text.strip()
        if not valid_address(address):
            self.error = "station.email.invalid"
            return
        if not self._keep(EMAIL_FILE, address):
            return
        self._flow().go(self.next_after(State.EMAIL), "e-mail given" + (", opted in" if self.opted_in else ""))

    def _keep(self, name: str, value: str) -> bool:
        """Write what the guest typed into the session store (its one home); False when the disk is full."""
        flow = self._flow()
        assert flow.session is not None
        try:
            self.store.write_file(flow.session.id, "contact", name, value.encode("utf-8"))
        except StorageFull:
            flow.fail("disk")
            return False
        self.error = None
        return True

    def _typed(self, session_id: str, name: str) -> str | None:
        try:
            return self.store.read_file(session_id, "contact", name).decode("utf-8")
        except (KioskError, OSError, UnicodeDecodeError):  # not typed in this session (or gone with it)
            return None

    # -- hand-over --------------------------------------------------------------------------------
    def _on_transition(self, old: State, new: State, reason: str) -> None:
        if self.scanner is not None:
            if new is State.IDENTITY:
                self.scanner.resume()
            elif old is State.IDENTITY:
                self.scanner.pause()
        if new in (State.LANGUAGE, State.ATTRACT, State.CLEANUP):
            self.error, self.opted_in, self.sent = None, False, []
        elif new is State.DELIVERY:
            self._deliver()

    def _deliver(self) -> None:
        """Queue the approved headshot with each channel this session asked for (errors logged, never raised)."""
        sess = self._flow().session
        if sess is None:
            return
        ident = self._typed(sess.id, IDENTITY_FILE)
        address = self._typed(sess.id, EMAIL_FILE)
        try:
            if ident is not None and self.outboxes.handoff is not None:
                path = sess.results.get(self.plan.handoff_format)
                if path is not None:
                    holder = self.outboxes.export(ident, path.read_bytes())
                    self.sent.append(Sent("handoff", holder, ident))
                else:
                    log.error("station: no %s result to hand off", self.plan.handoff_format)
            if address is not None and self.outboxes.mail is not None:
                photos = {p.name: p.read_bytes() for p in sess.results.values() if p.suffix.lower() in (".jpg", ".png")}
                holder = self.outboxes.send_mail(address, photos, sess.language)
                self.sent.append(Sent("mail", holder, mask_address(address)))
                if self.opted_in and self.plan.lead_list:
                    self.outboxes.add_lead(address, self.plan.consent_version)
        except (InputError, StorageFull, OSError) as err:
            log.error("station: could not queue the photo: %s", type(err).__name__)  # noqa: TRY400  # reason: no traceback: its text may carry guest data

    def where(self) -> list[tuple[str, dict[str, object]]]:
        """Where this session's photo went, as (i18n key, format values) lines for the delivery screen."""
        lines: list[tuple[str, dict[str, object]]] = []
        for s in self.sent:
            outcome = self.outboxes.outcome(s.holder, s.channel)
            done = "sent" if outcome == "sent" else "queued"
            lines.append((f"station.went.{s.channel}_{done}", {"who": s.shown}))
        return lines

    def status(self) -> dict[str, PartStatus]:
        """The station's line and one per outbox, for the operator's menu."""
        return {"station": PartStatus(describe(self.plan)), **self.outboxes.status()}
