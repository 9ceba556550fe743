"""The kiosk's brain without a face: the state machine wired to camera, framing, lights and pipeline.

It also drives delivery. The Kivy app renders it and forwards taps; the headless demo drives the
very same object with simulated taps. No Kivy here.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable

import numpy as np

from kiosk.app.attention import Attention, print_line
from kiosk.app.capture import CaptureSaver
from kiosk.app.config import UIConfig
from kiosk.app.listeners import LightsListener, light_table
from kiosk.app.operator import CornerTaps, CounterFile, PinGate, pin_state_file
from kiosk.app.processor import Processor
from kiosk.app.settings import SettingsFile
from kiosk.app.station import Station
from kiosk.app.wipe import WipeReport, wipe_everything
from kiosk.app.worker import Job, PreviewJob, ProcessingWorker
from kiosk.camera.base import CameraThread
from kiosk.delivery.ports import Downloads, NoPrinter, OfflineDownloads, Printer
from kiosk.lights import Lights, LightsConfig, NoopLights
from kiosk.session.flow import CAMERA_STATES, Session, SessionFlow, State, Timeouts
from kiosk.session.framing_worker import Box, FramingResult, FramingWorker, Hint
from kiosk.session.store import SessionStore, Step
from kiosk.status import Level, PartStatus

log = logging.getLogger(__name__)
# Screens where a face near the camera counts as the guest still being there (framing and countdown analyse
# frames anyway). Checked at a low rate: the style previews share the CPU.
PRESENCE_STATES = frozenset({State.LANGUAGE, State.CONSENT, State.REVIEW, State.STYLE, State.DELIVERY})
PRESENCE_RATE_HZ = 3.0
PRESENCE_MIN_FACE = 0.08  # face box height, fraction of the frame: a passer-by far behind is not the guest
PRESENCE_FRESH_S = 1.0  # an older framing result says nothing about now


def timeouts_from(ui: UIConfig) -> Timeouts:
    """The state machine's timeouts from the `[ui.timeouts]` config."""
    t = ui.timeouts
    return Timeouts(
        idle_s={
            State.LANGUAGE: t.language_s,
            State.CONSENT: t.consent_s,
            State.FRAMING: t.framing_s,
            State.STYLE: t.style_s,
            State.DELIVERY: t.delivery_s,
            State.OPERATOR: t.operator_s,
        },
        review_auto_confirm_s=t.review_auto_confirm_s,
        thanks_s=t.thanks_s,
        failsafe_recover_s=t.failsafe_recover_s,
        processing_max_s=t.processing_max_s,
        still_there_s=t.still_there_s,
        presence_max_s=t.presence_max_s,
    )


class KioskController:
    """Session logic around the state machine. Call `tick()` from one thread (the UI clock)."""

    def __init__(
        self,
        ui: UIConfig,
        store: SessionStore,
        camera: CameraThread,
        framing: FramingWorker,
        processor: Processor,
        lights: Lights | None = None,
        downloads: Downloads | None = None,
        printer: Printer | None = None,
        clock: Callable[[], float] = time.monotonic,
        models_ok: Callable[[], bool] | None = None,
        lights_cfg: LightsConfig | None = None,
        station: Station | None = None,
    ) -> None:
        """Wire the parts; nothing starts until start() (station: the mode's steps, default walk-in)."""
        self.ui = ui
        self.clock = clock
        self.store = store
        self.camera = camera
        self.framing = framing
        self.lights: Lights = lights or NoopLights()
        self.downloads: Downloads = downloads or OfflineDownloads()
        self.printer: Printer = printer or NoPrinter()
        self.models_ok = models_ok or (lambda: True)
        lights_cfg = lights_cfg or LightsConfig()
        self.flow = SessionFlow(
            store,
            timeouts_from(ui),
            retake_limit=ui.retake_limit,
            clock=clock,
            on_cleanup=self._on_cleanup,
        )
        self.flow.listen(self._on_transition)
        self.station = station or Station.walk_in(store)
        self.station.attach(self.flow)  # the id and e-mail steps, and the hand-over at delivery
        self.flow.listen(LightsListener(self.lights, light_table(lights_cfg.countdown_ramp_ms, lights_cfg.lens_cue)))
        self.worker = ProcessingWorker(processor)
        self.capture = CaptureSaver(camera, store)
        # The lockout outlives a restart: its state sits in the data folder, beside the sessions folder.
        self.pin_gate = PinGate(ui.pin_hash, ui.pin_max_tries, ui.pin_lockout_s, clock=clock,
                                max_lockout_s=ui.pin_lockout_max_s, state_file=pin_state_file(store.data_dir))
        self.corner = CornerTaps(ui.operator_taps, 3.0, clock=clock)
        self.attention = Attention(self.printer, self.lights, clock)  # printer truth and the attendant cue
        self.settings: SettingsFile | None = None  # the config file the operator's settings go to (assemble)
        self.framing_notice: str | None = None  # i18n key the live screen shows: why no countdown started
        self._notice_until = 0.0
        self.job: Job | None = None
        self.previews: PreviewJob | None = None
        self.framing_result: FramingResult | None = None
        self.countdown_left = 0
        self.download_url: str | None = None
        self.print_message: str | None = None
        # The operator's counters survive restarts (data folder, owner-only), saved whenever they change.
        self.counter_file = CounterFile(store.data_dir)
        saved = self.counter_file.load()
        self.prints = saved.pop("prints")
        self.flow.counters.update(saved)
        self.flow.listen(lambda *_: self.save_counters())
        self.pin_open = False
        self.quit_requested = False
        self.injected_error: str | None = None
        self.notice: str | None = None  # shown on the delivery screen: the AI style fell back to studio
        self._lost_since: float | None = None
        self.capture_box: Box | None = None  # the guest's face in the capture (the review screen's crop)
        self._framing_period = framing.min_period
        self._started = False
        self._stopped = False
        self._warm: threading.Thread | None = None

    @property
    def styles(self) -> list[str]:
        """Styles on the style screen: the studio backdrops, then the model pack's presets ("ai:<name>")."""
        return [*self.ui.styles, *self.worker.processor.ai_styles]

    def style_label(self, style: str, lang: str) -> str | None:
        """A model-pack style's name in `lang` from the pack's presets (English when missing); None otherwise."""
        labels = self.worker.processor.ai_labels.get(style)
        if not labels:
            return None
        return labels.get(lang) or labels.get("en")

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the camera and the framing worker; lights to the attract scene."""
        self.camera.start()
        self.framing.start()
        self._started = True
        self.lights.scene("attract")
        # The generation worker loads and warms up its pack (seconds to minutes) off the UI thread.
        self._warm = threading.Thread(target=self.worker.processor.warm_up, name="generation-warm-up", daemon=True)
        self._warm.start()

    def stop(self) -> None:
        """Stop every thread, delete the live session, lights safe (a second call does nothing)."""
        if self._stopped:
            return
        self._stopped = True
        if self.flow.session is not None:
            self.flow.cancel("kiosk stopped")
        self.framing.stop()
        self.capture.close()
        self.camera.stop()
        self.worker.stop()
        self.station.stop()
        self.lights.safe()
        self.lights.close()

    @property
    def state(self) -> State:
        """The current state."""
        return self.flow.state

    @property
    def session(self) -> Session | None:
        """The guest's session, if one is running."""
        return self.flow.session

    # -- the clock ----------------------------------------------------------------------------
    def tick(self) -> None:
        """Advance everything that moves by itself; errors go to the failsafe, never up."""
        try:
            self._tick()
        except Exception as err:  # reason: the supervised top of the session loop: route to the failsafe
            log.exception("session tick failed")
            self._fail_once(f"error:{type(err).__name__}")

    def _fail_once(self, cause: str) -> None:
        try:
            self.flow.fail(cause)
        except Exception:  # reason: the failsafe itself must never raise into the UI loop
            log.exception("failsafe transition failed")

    def _tick(self) -> None:
        if self.injected_error is not None:
            err, self.injected_error = self.injected_error, None
            raise RuntimeError(err)
        self._watch_camera()
        self.attention.tick(self.flow.state is State.ATTRACT)
        for button in self.lights.pop_buttons():
            if button == "start" and self.flow.state is State.ATTRACT:
                self.tap("start")
            elif button == "print" and self.flow.state is State.DELIVERY:
                self.tap("print")
        st = self.flow.state
        if st in (State.FRAMING, State.COUNTDOWN):
            self.framing_result = self.framing.latest()
            if self.framing.error:
                self.flow.fail("framing", held=False)
                return
        if st is State.FRAMING:
            r = self.framing_result
            if r is not None and r.ready:
                self.flow.framed()
        elif st is State.COUNTDOWN:
            self._countdown()
        elif st is State.CAPTURE:
            self._capture()
        elif st is State.PROCESSING:
            self._processing()
        self._presence()
        self.station.tick()
        self.flow.tick()

    def _presence(self) -> None:
        """A face near the camera is the guest still there: it restarts the idle timers."""
        if not self.framing.active:
            return
        r = self.framing.latest()
        near = r is not None and r.box is not None and r.box.h >= PRESENCE_MIN_FACE
        if near and r is not None and self.clock() - r.t < PRESENCE_FRESH_S:
            self.flow.presence()

    def _watch_camera(self) -> None:
        cam_ok = self.camera.connected
        if not cam_ok and self.flow.state in CAMERA_STATES and self._started:
            # Give a freshly started camera a moment before calling it lost.
            if self.camera.frames_read > 0 or self.camera.last_error is not None:
                self.flow.fail("camera", held=True)
        elif cam_ok and "camera" in self.flow.causes:
            self.flow.clear("camera")

    def _countdown(self) -> None:
        left = self.ui.countdown_s - self.flow.elapsed()
        self.countdown_left = max(0, int(np.ceil(left)))
        r = self.framing_result
        if r is not None and r.hint in (Hint.NO_FACE, Hint.ONE_PERSON):
            if self._lost_since is None:
                self._lost_since = self.clock()
            elif self.clock() - self._lost_since > 0.6:
                self.say("framing.lost")
                self.flow.lost_framing()
                return
        else:
            self._lost_since = None
        if left <= 0:
            self.flow.go(State.CAPTURE, "countdown done")

    def _capture(self) -> None:
        sess = self.flow.session
        assert sess is not None
        outcome = self.capture.poll(sess.id, f"capture-{sess.retakes}.jpg")  # camera and fsync off this thread
        if outcome is None or (outcome.still is None and not outcome.disk_full):
            return  # still saving, or no frame yet: the next tick asks again
        if outcome.disk_full:
            self.flow.fail("disk")
            return
        assert outcome.still is not None
        self.capture_box = self.framing_result.box if self.framing_result is not None else None
        self.flow.captured(outcome.still)

    def _processing(self) -> None:
        job = self.job
        if job is None or not job.done.is_set():
            return
        if job.unusable is not None:
            self.flow.unusable(job.unusable)
            return
        if job.error is not None or job.results is None:
            self.flow.fail("error:processing")
            return
        sess = self.flow.session
        assert sess is not None
        sess.results.update(job.results)
        self.notice = job.notice
        self.store.advance(sess.id, Step.PROCESSED)
        self.flow.processed()

    # -- transitions --------------------------------------------------------------------------
    def _on_transition(self, old: State, new: State, reason: str) -> None:
        if old is State.STYLE and self.previews is not None:
            self.previews.cancel.set()
        if new is State.STYLE and self.ui.style_previews:
            sess = self.flow.session
            if sess is not None and sess.capture is not None:
                self.previews = self.worker.submit_preview(sess.capture, self.styles)
        live = (State.FRAMING, State.COUNTDOWN)
        if new in live:
            self.framing.min_period = self._framing_period
            if old not in live or not self.framing.active:
                self.framing.resume()  # a fresh stillness timer for each framing
        elif new in PRESENCE_STATES:
            self.framing.min_period = 1.0 / PRESENCE_RATE_HZ
            if not self.framing.active:
                self.framing.resume()
        else:
            self.framing.pause()
        if new is State.FRAMING:
            self.framing_result = None
            self.capture_box = None
        elif new is State.COUNTDOWN:
            self._lost_since = None
            self.countdown_left = self.ui.countdown_s
        elif new is State.PROCESSING:
            sess = self.flow.session
            assert sess is not None and sess.capture is not None and sess.style is not None
            sid = sess.id
            self.job = self.worker.submit(sid, sess.capture, sess.style, list(self.ui.formats),
                                          lambda name, data: self.store.write_file(sid, "result", name, data))
        elif new is State.DELIVERY:
            sess = self.flow.session
            assert sess is not None
            self.print_message = None
            try:
                self.download_url = self.downloads.offer(sess.id, dict(sess.results), lang=sess.language)
            except Exception:  # reason: no download is a degraded delivery, not a failed session
                log.exception("download offer failed")
                self.download_url = None

    def _on_cleanup(self, sess: Session) -> None:
        if self.previews is not None:
            self.previews.cancel.set()
        self.previews = None
        self.job = None
        self.notice = None
        self.download_url = None
        self.print_message = None
        self.framing_result = None
        self.capture_box = None
        self._notice_until = 0.0
        try:
            self.downloads.withdraw(sess.id)
        except Exception:  # reason: withdrawal failure must not block the deletion
            log.exception("download withdraw failed")

    # -- guest taps -----------------------------------------------------------------------------
    def tap(self, action: str, arg: str = "") -> None:
        """One guest action from the UI (or a simulated tap); unknown actions are ignored."""
        self.flow.activity()
        st = self.flow.state
        try:
            if action == "start" and st is State.ATTRACT:
                self.flow.start()
            elif action == "language" and st is State.LANGUAGE:
                self.flow.choose_language(arg)
            elif action == "agree" and st is State.CONSENT:
                assert self.flow.session is not None
                self.store.advance(self.flow.session.id, Step.CONSENTED)  # recorded before framing starts
                self.flow.accept_consent(self.station.next_after(State.CONSENT))
            elif action == "cancel" and st not in (State.ATTRACT, State.CLEANUP, State.PROCESSING):
                self.flow.cancel("guest cancelled")
            elif action == "shoot" and st is State.FRAMING:
                r = self.framing_result
                if r is not None and r.box is not None:
                    self.flow.go(State.COUNTDOWN, "take photo tapped")
                else:  # a countdown that would only abort: say why instead
                    self.say("framing.no_face_shoot")
            elif action == "approve" and st is State.REVIEW:
                self.flow.approve()
            elif action == "retake" and st is State.REVIEW:
                self.flow.retake()
            elif action == "style" and st is State.STYLE:
                self.flow.choose_style(arg)
            elif action == "print" and st is State.DELIVERY:
                self._print()
            elif action == "done" and st is State.DELIVERY:
                self.flow.done()
            elif action == "finish" and st is State.THANKS:
                self.flow.go(State.CLEANUP, "completed")
            else:
                self.station.tap(action, arg)  # the id and e-mail steps' taps (others are ignored)
        except Exception as err:  # reason: a tap must never crash the kiosk; route to the failsafe
            log.exception("tap %s failed", action)
            self._fail_once(f"error:{type(err).__name__}")

    def more_time(self) -> None:
        """The guest's "More time": every wait of this session doubles (a tap, so it also says they are there)."""
        if self.flow.session is not None:
            self.flow.more_time()

    def _print(self) -> None:
        sess = self.flow.session
        if sess is None or not sess.results or not self.printer.available():
            return
        first = sess.results.get(self.ui.formats[0]) or next(iter(sess.results.values()))
        try:
            self.print_message = self.printer.print_file(first)
            self.prints += 1
            self.save_counters()
        except Exception as err:  # noqa: BLE001  # reason: a printer problem is shown to the guest, not raised
            log.warning("print failed: %s", err)
            self.print_message = "error"

    def save_counters(self) -> None:
        """Persist the operator's counters (only when they changed)."""
        self.counter_file.save({**self.flow.counters, "prints": self.prints})

    def say(self, key: str, seconds: float = 4.0) -> None:
        """Show a framing notice (i18n key) on the live screen for a few seconds."""
        self.framing_notice, self._notice_until = key, self.clock() + seconds

    def notice_now(self) -> str | None:
        """The framing notice while it lasts."""
        return self.framing_notice if self.clock() < self._notice_until else None

    def print_line(self) -> str | None:
        """The delivery screen's print line (i18n key): this guest's job state, or why Print is unavailable."""
        return print_line(self.printer, self.print_message is not None, self.print_message == "error")

    # -- operator ---------------------------------------------------------------------------------
    def corner_tap(self) -> bool:
        """A tap in the hidden corner on the attract screen; True when the PIN pad should open."""
        if self.flow.state is State.ATTRACT and self.corner.tap(True):
            self.pin_open = True
            return True
        return False

    def enter_pin(self, pin: str) -> bool:
        """Check the operator PIN; opens the operator menu when right."""
        if self.flow.state is not State.ATTRACT:
            return False
        if self.pin_gate.try_pin(pin):
            self.pin_open = False
            self.flow.open_operator()
            return True
        return False

    def close_pin(self) -> None:
        """Close the PIN pad."""
        self.pin_open = False

    def close_operator(self) -> None:
        """Leave the operator menu back to the attract screen."""
        if self.flow.state is State.OPERATOR:
            self.flow.close_operator()

    def leave_kiosk(self) -> None:
        """Operator asked to leave kiosk mode: the app quits."""
        self.quit_requested = True

    def wipe_all(self) -> WipeReport:
        """Operator's "wipe all guest data now": the same code as `kiosk wipe` (every session, every link)."""
        return wipe_everything(self.store, self.downloads)

    def light_test(self) -> str:
        """Run the scenes once (returns at once; the bridge worker sends them)."""
        for name in ("framing", "countdown", "flash", "attract"):
            self.lights.scene(name, fade_ms=200)
        self.lights.lens_cue("blink")
        return self.lights.status()

    def retry_sending(self) -> str:
        """Operator: send queued e-mail and hand-off items now, those held for the operator included."""
        return self.station.outboxes.retry_now()

    def test_print(self) -> str:
        """Operator test print."""
        try:
            return self.printer.test_print()
        except Exception as err:  # noqa: BLE001  # reason: shown to the operator
            return f"test print failed: {err}"

    def device_status(self) -> dict[str, PartStatus]:
        """Every part's status for the operator menu, in a fixed order."""
        cam = self.camera
        if cam.connected:
            camera = PartStatus(f"ok, {cam.frames_read} frames")
        else:
            camera = PartStatus(f"not connected ({cam.last_error or 'starting'})", Level.FAIL,
                                "check the camera's USB cable and power; camera.device in the config")
        disk = shutil.disk_usage(self.store.data_dir)
        free = f"{disk.free / 1e9:.1f} GB free of {disk.total / 1e9:.1f} GB"
        if disk.free < 200 << 20:
            space = PartStatus(free, Level.FAIL, "free space on the data disk now (or `kiosk wipe`)")
        elif disk.free < 2 << 30:
            space = PartStatus(free, Level.WARN, "free space on the data disk before the next event")
        else:
            space = PartStatus(free)
        models = (PartStatus("ok") if self.models_ok()
                  else PartStatus("missing", Level.FAIL, "run `kiosk models fetch`"))
        try:
            processing = self.worker.processor.status()
        except Exception as err:  # noqa: BLE001  # reason: a status line must never break the operator menu
            processing = {"processing": PartStatus(f"status unavailable: {err}", Level.WARN)}
        return {
            "camera": camera,
            "bridge": self.lights.status(),
            "printer": self.printer.status(),
            "download": self.downloads.status(),
            "models": models,
            "disk": space,
            **processing,
            **self.station.status(),
        }

    def counters(self) -> dict[str, str]:
        """Counters for the operator menu."""
        c = self.flow.counters
        paper = self.printer.paper_left()
        return {
            "sessions": str(c["sessions"]),
            "completed": str(c["completed"]),
            "abandoned": str(c["abandoned"]),
            "prints": str(self.prints),
            "paper_left": "—" if paper is None else str(paper),
            "failsafe": str(c["failsafe"]),
        }

    def inject_error(self, what: str = "injected") -> None:
        """Make the next tick fail (used by the fault tests and the operator's self-test)."""
        self.injected_error = what
