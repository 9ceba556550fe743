"""The kiosk's brain without a face: the state machine wired to camera, framing, lights and pipeline.

It also drives delivery. The Kivy app renders it and forwards taps; the headless demo drives the
very same object with simulated taps. No Kivy here.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from kiosk.camera.base import CameraThread
from kiosk.errors import NoUsableFace
from kiosk.lights import Lights, NoopLights
from kiosk.session.flow import CAMERA_STATES, Session, SessionFlow, State, Timeouts
from kiosk.session.framing_worker import FramingResult, FramingWorker, Hint
from kiosk.ui.config import UIConfig
from kiosk.ui.delivery_port import Downloads, NoPrinter, OfflineDownloads, Printer, close_delivery
from kiosk.ui.operator import CornerTaps, PinGate, pin_state_file

log = logging.getLogger(__name__)
AI_PREFIX = "ai:"  # style names of the model pack's presets on the style screen ("ai:studio")


class Processor(Protocol):
    """Turns a capture into result files; runs on the processing thread only."""

    def process(
        self,
        bgr: np.ndarray,
        style: str,
        formats: list[str],
        out_dir: Path,
        progress: Callable[[float, str], None],
    ) -> dict[str, Path]:
        """Write one JPEG per format into out_dir; report progress 0..1 with a stage name."""
        ...


class StudioProcessor:
    """The studio pipeline (kiosk.pipeline.studio), loaded once on the processing thread."""

    def __init__(
        self,
        models_dir: Path,
        pipeline_config: Any,
        jpeg_quality: int = 92,
        *,
        provenance: Any = None,
        profile: Any = None,
        profile_warnings: list[str] | None = None,
        generation: Any = None,
        generator: Any = None,
        generation_reason: str | None = None,
        ai_styles: list[str] | None = None,
    ) -> None:
        """Remember where the models are; nothing loads until the first job.

        Args:
            models_dir: installed vision models.
            pipeline_config: the `[pipeline]` section.
            jpeg_quality: JPEG quality of the delivered files, 1..100.
            provenance: the `[delivery.provenance]` section (a configured key signs every file with C2PA).
            profile: the booth's calibration profile (calibration.profile.Profile), applied to every capture.
            profile_warnings: the profile's operator warnings (other camera, too old), for the status.
            generation: the `[generation]` section (steps, strength, seed, identity check).
            generator: the supervised generation worker (kiosk.generation), or None.
            generation_reason: why there is no generator (shown to the operator; the guest gets the studio
                result if an AI style is asked for anyway).
            ai_styles: the model pack's style presets, offered as "ai:<preset>" next to the backdrops.
        """
        from kiosk.delivery.provenance_config import ProvenanceConfig

        self.models_dir = models_dir
        self.pipeline_config = pipeline_config
        self.jpeg_quality = jpeg_quality
        self.provenance: ProvenanceConfig = provenance or ProvenanceConfig()
        self.profile = profile
        self.profile_warnings = list(profile_warnings or [])
        from kiosk.generation.config import GenerationConfig

        self.generation: GenerationConfig = generation or GenerationConfig()
        self.generator = generator
        self.generation_reason = generation_reason or "no model pack is installed"
        self.ai_styles = [f"{AI_PREFIX}{name}" for name in (ai_styles or [])] if generator is not None else []
        self.notice: str | None = None  # set by process(): why an asked-for AI style fell back to studio
        self.generation_state = "starting" if generator is not None else f"off: {self.generation_reason}"
        self._warming = threading.Event()  # set while warm_up() loads the pack: jobs then fall back at once
        self._pipe: Any = None

    def _pipeline(self) -> Any:
        from kiosk.pipeline.studio import StudioPipeline

        if self._pipe is None:
            self._pipe = StudioPipeline(self.models_dir, self.pipeline_config, profile=self.profile)
        return self._pipe

    def status(self) -> dict[str, str]:
        """Operator status lines of the processing parts (calibration)."""
        if self.profile is None:
            calib = "no calibration profile: captures are used as the camera delivers them"
        else:
            calib = f"profile of camera '{self.profile.camera_id}' applied"
        if self.profile_warnings:
            calib += "; " + "; ".join(self.profile_warnings)
        return {"calibration": calib, "generation": self.generation_state}

    def warm_up(self) -> None:
        """Start the generation worker and let it load and warm up the pack (call off the UI thread)."""
        if self.generator is None:
            return
        from kiosk.errors import KioskError

        t0 = time.monotonic()
        self._warming.set()
        try:
            self.generator.start()
        except KioskError as err:
            self.generation_state = f"off: {err}"
            log.warning("generation worker did not start: %s", err)
            return
        finally:
            self._warming.clear()
        info = getattr(self.generator, "info", {}) or {}
        runtime = info.get("runtime") or {}
        notes = runtime.get("notes") or []
        self.generation_state = (
            f"ready ({info.get('model_id', 'pack')}, {runtime.get('backend', 'runtime')} "
            f"{info.get('precision', '')}; warm-up {time.monotonic() - t0:.1f} s)"
            + (f"; note: {'; '.join(notes)}" if notes else "")
        )

    def idle(self) -> None:
        """Watchdog tick between jobs: a generation worker that died while idle is restarted."""
        check = getattr(self.generator, "check", None)
        if callable(check) and check():
            self.generation_state = "restarted after the worker exited while idle"
        reason = getattr(self.generator, "disabled_reason", None)
        if reason:
            self.generation_state = f"off: {reason}"

    def _encode(self, bgr: np.ndarray, source_type: str, description: str, title: str) -> bytes:
        """The delivered JPEG: sRGB, XMP disclosure, and a C2PA manifest when a signing key is configured."""
        from kiosk.delivery.provenance import encode_delivery

        return encode_delivery(
            bgr, source_type, self.provenance, self.jpeg_quality, description=description, title=title
        )

    def process(
        self,
        bgr: np.ndarray,
        style: str,
        formats: list[str],
        out_dir: Path,
        progress: Callable[[float, str], None],
    ) -> dict[str, Path]:
        """Analyse once, compose and write each format (studio); then the AI composite for an "ai:" style.

        Progress is real: the studio pipeline reports its stages, the generation worker each denoising step.
        The studio files are written before generation starts, so a failed, hung or rejected generation
        still delivers them (and `notice` says why).
        """
        from kiosk.pipeline.imageio import write_atomic

        self.notice = None
        gen_style = style[len(AI_PREFIX) :] if style.startswith(AI_PREFIX) else None
        if self._pipe is None:
            progress(0.02, "loading")
        pipe = self._pipeline()
        backdrop = pipe.config.default_style if gen_style is not None else style
        studio_share = 0.85 if gen_style is None else 0.35
        progress(0.05, "analyse")
        img = pipe.prepare(bgr)
        analysis = pipe.analyse(img)
        out: dict[str, Path] = {}
        studio: dict[str, Any] = {}
        n = len(formats)
        for i, fmt in enumerate(formats):

            def report(_stage: str, frac: float, i: int = i) -> None:
                progress(0.1 + studio_share * (i + frac) / n, _stage)

            res = pipe.headshot(img, style=backdrop, fmt=fmt, analysis=analysis, progress=report)
            studio[fmt] = res
            name = f"{fmt}-{backdrop}.jpg"
            data = self._encode(res.image, "edited", "Studio headshot by Headshot Kiosk", name)
            out[fmt] = write_atomic(out_dir / name, data)
        if gen_style is not None:
            self._generate(img, analysis, gen_style, backdrop, formats, studio, out, out_dir, 0.1 + studio_share,
                           progress)
        progress(1.0, "done")
        return out

    def _generate(
        self,
        img: np.ndarray,
        analysis: Any,
        style: str,
        backdrop: str,
        formats: list[str],
        studio: dict[str, Any],
        out: dict[str, Path],
        out_dir: Path,
        start: float,
        progress: Callable[[float, str], None],
    ) -> None:
        """One AI composite for every format (cut from one generation); on failure keep studio, say why."""
        import secrets

        from kiosk.pipeline.generative import GenerativePipeline
        from kiosk.pipeline.imageio import write_atomic

        if self.generator is None:
            self._fell_back(self.generation_reason)
            return
        if self._warming.is_set():
            # Waiting could take minutes on a big pack; the guest gets the studio result now.
            self._fell_back("the AI model is still loading (warm-up in progress)")
            return
        g = self.generation
        seed = g.seed if g.seed is not None else secrets.randbelow(2**31)

        def step(done: int, total: int) -> None:
            progress(start + (0.97 - start) * done / max(1, total), f"generate {done}/{total}")

        gp = GenerativePipeline(self._pipeline(), self.generator, self.generation_reason)
        res = gp.make(img, style=style, formats=formats, backdrop=backdrop, analysis=analysis, studio=studio,
                      seed=seed, steps=g.steps, strength=g.strength, progress=step)
        if not res.generated:
            self._fell_back(res.fallback_reason or "generation failed")
            return
        for fmt in formats:
            name = f"{fmt}-ai-{style}.jpg"
            data = self._encode(res.image(fmt), "ai-composite", res.description(fmt), name)
            out[fmt] = write_atomic(out_dir / name, data)
        self.generation_state = f"ready; last job: AI composite '{style}' (seed {seed})"

    def _fell_back(self, reason: str) -> None:
        log.warning("AI style fell back to the studio result: %s", reason)
        self.notice = reason
        disabled = getattr(self.generator, "disabled_reason", None)
        state = f"off: {disabled}" if disabled else "ready" if self.generator is not None else "off"
        self.generation_state = f"{state}; last job: studio result delivered ({reason})"

    def preview(self, bgr: np.ndarray, styles: list[str], on_image: Callable[[str, np.ndarray], None],
                cancelled: Callable[[], bool], max_side: int = 360) -> None:  # fmt: skip
        """Small previews of the guest on each style's backdrop, one callback per style as it is ready."""
        pipe = self._pipeline()
        img = pipe.prepare(bgr)
        analysis = pipe.analyse(img)
        for style in styles:
            if cancelled():
                return
            res = pipe.headshot(img, style=style, fmt="portrait", analysis=analysis)
            h, w = res.image.shape[:2]
            s = max_side / max(h, w)
            on_image(style, cv2.resize(res.image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA))

    def close(self) -> None:
        """Release the pipeline's models and stop the generation worker (call on the processing thread)."""
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        if self.generator is not None:
            self.generator.close()


@dataclass
class Job:
    """A processing job and its live progress (read by the UI thread)."""

    session_id: str
    progress: float = 0.0
    stage: str = "queued"
    results: dict[str, Path] | None = None
    error: str | None = None
    unusable: str | None = None  # the capture had no usable face (reason): ask for another photo
    notice: str | None = None  # why an AI style was delivered as the studio result
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class PreviewJob:
    """Style previews being made for the style screen (read by the UI thread)."""

    images: dict[str, np.ndarray] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class ProcessingWorker:
    """One long-lived thread that runs jobs through the processor (the pipeline lives on this thread)."""

    def __init__(self, processor: Processor) -> None:
        """Start the thread."""
        self.processor = processor
        self._q: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="processing", daemon=True)
        self._thread.start()

    def submit(self, session_id: str, bgr: np.ndarray, style: str, formats: list[str], out_dir: Path) -> Job:
        """Queue a job; returns at once."""
        job = Job(session_id)
        self._q.put((job, bgr, style, formats, out_dir))
        return job

    def submit_preview(self, bgr: np.ndarray, styles: list[str]) -> PreviewJob | None:
        """Queue style previews (None when the processor cannot make them); cancel() them when done."""
        if not callable(getattr(self.processor, "preview", None)):
            return None
        job = PreviewJob()
        self._q.put((job, bgr, styles))
        return job

    def stop(self) -> None:
        """Finish the current job and stop."""
        self._q.put(None)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        idle = getattr(self.processor, "idle", None)
        while True:
            try:
                item = self._q.get(timeout=1.0)
            except queue.Empty:
                if callable(idle):
                    try:
                        idle()
                    except Exception:  # reason: the idle watchdog must not kill the processing thread
                        log.exception("processor idle check failed")
                continue
            if item is None:
                # MediaPipe graphs must be closed on the thread that made them (a close from the
                # garbage collector on another thread can deadlock at exit).
                close = getattr(self.processor, "close", None)
                if callable(close):
                    close()
                return
            if isinstance(item[0], PreviewJob):
                self._preview(*item)
                continue
            job, bgr, style, formats, out_dir = item

            def progress(frac: float, stage: str, job: Job = job) -> None:
                job.progress = max(job.progress, min(1.0, frac))
                job.stage = stage

            try:
                job.results = self.processor.process(bgr, style, formats, out_dir, progress)
                job.notice = getattr(self.processor, "notice", None)
            except NoUsableFace as err:
                log.info("capture has no usable face: %s", err.reason)
                job.unusable = err.reason
            except Exception as err:  # reason: supervised worker; the session routes the error to the failsafe
                log.exception("processing failed")
                job.error = f"{type(err).__name__}: {err}"
            finally:
                job.done.set()

    def _preview(self, job: PreviewJob, bgr: np.ndarray, styles: list[str]) -> None:
        try:
            if not job.cancel.is_set():
                self.processor.preview(  # type: ignore[attr-defined]  # reason: checked in submit_preview
                    bgr, styles, job.images.__setitem__, job.cancel.is_set
                )
        except Exception:  # reason: previews are a nicety; the style screen works without them
            log.warning("style previews failed", exc_info=True)
        finally:
            job.done.set()


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
    )


def write_jpeg_atomic(path: Path, bgr: np.ndarray, quality: int = 95) -> Path:
    """Encode and write a JPEG atomically (temp file, fsync, rename)."""
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("cannot encode the capture as JPEG")
    from models.store import atomic_write_bytes

    atomic_write_bytes(path, buf.tobytes())
    return path


class KioskController:
    """Session logic around the state machine. Call `tick()` from one thread (the UI clock)."""

    def __init__(
        self,
        ui: UIConfig,
        sessions_dir: Path,
        camera: CameraThread,
        framing: FramingWorker,
        processor: Processor,
        lights: Lights | None = None,
        downloads: Downloads | None = None,
        printer: Printer | None = None,
        clock: Callable[[], float] = time.monotonic,
        models_ok: Callable[[], bool] | None = None,
    ) -> None:
        """Wire the parts; nothing starts until start()."""
        self.ui = ui
        self.clock = clock
        self.sessions_dir = sessions_dir
        self.camera = camera
        self.framing = framing
        self.lights: Lights = lights or NoopLights()
        self.downloads: Downloads = downloads or OfflineDownloads()
        self.printer: Printer = printer or NoPrinter()
        self.models_ok = models_ok or (lambda: True)
        self.flow = SessionFlow(
            sessions_dir,
            timeouts_from(ui),
            retake_limit=ui.retake_limit,
            clock=clock,
            on_cleanup=self._on_cleanup,
        )
        self.flow.listen(self._on_transition)
        self.worker = ProcessingWorker(processor)
        # The lockout outlives a restart: its state sits in the data folder, beside the sessions folder.
        self.pin_gate = PinGate(ui.pin_hash, ui.pin_max_tries, ui.pin_lockout_s, clock=clock,
                                max_lockout_s=ui.pin_lockout_max_s, state_file=pin_state_file(sessions_dir.parent))
        self.corner = CornerTaps(ui.operator_taps, 3.0, clock=clock)
        self.job: Job | None = None
        self.previews: PreviewJob | None = None
        self.framing_result: FramingResult | None = None
        self.countdown_left = 0
        self.download_url: str | None = None
        self.print_message: str | None = None
        self.prints = 0
        self.pin_open = False
        self.quit_requested = False
        self.injected_error: str | None = None
        self.notice: str | None = None  # shown on the delivery screen: the AI style fell back to studio
        self._lost_since: float | None = None
        self._started = False
        self._warm: threading.Thread | None = None

    @property
    def styles(self) -> list[str]:
        """Styles on the style screen: the studio backdrops, then the model pack's presets ("ai:<name>")."""
        return [*self.ui.styles, *getattr(self.worker.processor, "ai_styles", [])]

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the camera and the framing worker; lights to the attract scene."""
        self.camera.start()
        self.framing.start()
        self._started = True
        self.lights.scene("attract")
        warm_up = getattr(self.worker.processor, "warm_up", None)
        if callable(warm_up):
            # The generation worker loads and warms up its pack (seconds to minutes) off the UI thread.
            self._warm = threading.Thread(target=warm_up, name="generation-warm-up", daemon=True)
            self._warm.start()

    def stop(self) -> None:
        """Stop every thread, delete the live session, lights safe."""
        if self.flow.session is not None:
            self.flow.cancel("kiosk stopped")
        self.framing.stop()
        self.camera.stop()
        self.worker.stop()
        self.lights.safe()
        self.lights.close()
        close_delivery(self.downloads, self.printer)

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
        self.flow.tick()

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
                self.flow.lost_framing()
                return
        else:
            self._lost_since = None
        if left <= 0:
            self.flow.go(State.CAPTURE, "countdown done")

    def _capture(self) -> None:
        still = self.camera.camera.capture_still()
        if still is None:
            frame = self.camera.latest()
            if frame is None:
                return  # wait for the next frame (a lost camera routes to the failsafe)
            still = frame.image.copy()
        sess = self.flow.session
        assert sess is not None
        write_jpeg_atomic(sess.folder / f"capture-{sess.retakes}.jpg", still)
        self.flow.captured(still)

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
        self.flow.processed()

    # -- transitions --------------------------------------------------------------------------
    def _on_transition(self, old: State, new: State, reason: str) -> None:
        if old is State.STYLE and self.previews is not None:
            self.previews.cancel.set()
        if new is State.STYLE and self.ui.style_previews:
            sess = self.flow.session
            if sess is not None and sess.capture is not None:
                self.previews = self.worker.submit_preview(sess.capture, list(self.ui.styles))
        if new in (State.FRAMING, State.COUNTDOWN):
            if not self.framing.active:
                self.framing.resume()
        else:
            self.framing.pause()
        if new is State.ATTRACT:
            self.lights.scene("attract")
            self.lights.lens_cue("off")
        elif new is State.FRAMING:
            self.framing_result = None
            self.lights.scene("framing")
            self.lights.lens_cue("off")
        elif new is State.COUNTDOWN:
            self._lost_since = None
            self.countdown_left = self.ui.countdown_s
            self.lights.scene("countdown", fade_ms=800)
            self.lights.lens_cue("blink")
        elif new is State.CAPTURE:
            self.lights.scene("flash", fade_ms=0)
            self.lights.lens_cue("on")
        elif new is State.REVIEW:
            self.lights.scene("framing")
            self.lights.lens_cue("off")
        elif new is State.PROCESSING:
            self.lights.scene("idle")
            sess = self.flow.session
            assert sess is not None and sess.capture is not None and sess.style is not None
            self.job = self.worker.submit(sess.id, sess.capture, sess.style, list(self.ui.formats), sess.folder)
        elif new is State.DELIVERY:
            sess = self.flow.session
            assert sess is not None
            self.print_message = None
            try:
                self.download_url = self.downloads.offer(sess.id, dict(sess.results))
            except Exception:  # reason: no download is a degraded delivery, not a failed session
                log.exception("download offer failed")
                self.download_url = None
        elif new is State.ATTENDANT_NEEDED:
            self.lights.scene("idle")
            self.lights.lens_cue("off")

    def _on_cleanup(self, sess: Session) -> None:
        if self.previews is not None:
            self.previews.cancel.set()
        self.previews = None
        self.job = None
        self.notice = None
        self.download_url = None
        self.print_message = None
        self.framing_result = None
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
                self.flow.accept_consent()
            elif action == "cancel" and st not in (State.ATTRACT, State.CLEANUP, State.PROCESSING):
                self.flow.cancel("guest cancelled")
            elif action == "shoot" and st is State.FRAMING:
                self.flow.go(State.COUNTDOWN, "take photo tapped")
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
        except Exception as err:  # reason: a tap must never crash the kiosk; route to the failsafe
            log.exception("tap %s failed", action)
            self._fail_once(f"error:{type(err).__name__}")

    def _print(self) -> None:
        sess = self.flow.session
        if sess is None or not sess.results or not self.printer.available():
            return
        first = sess.results.get(self.ui.formats[0]) or next(iter(sess.results.values()))
        try:
            self.print_message = self.printer.print_file(first)
            self.prints += 1
        except Exception as err:  # noqa: BLE001  # reason: a printer problem is shown to the guest, not raised
            log.warning("print failed: %s", err)
            self.print_message = "error"

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

    def wipe_all(self) -> int:
        """Delete every guest file under the sessions folder now; return how many folders went."""
        n = 0
        if self.sessions_dir.is_dir():
            for p in self.sessions_dir.iterdir():
                if self.flow.session is not None and p == self.flow.session.folder:
                    continue
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                n += 1
        return n

    def light_test(self) -> str:
        """Run the scenes once (returns at once; the bridge worker sends them)."""
        for name in ("framing", "countdown", "flash", "attract"):
            self.lights.scene(name, fade_ms=200)
        self.lights.lens_cue("blink")
        return self.lights.status()

    def test_print(self) -> str:
        """Operator test print."""
        try:
            return self.printer.test_print()
        except Exception as err:  # noqa: BLE001  # reason: shown to the operator
            return f"test print failed: {err}"

    def device_status(self) -> dict[str, str]:
        """One line per device for the operator menu."""
        cam = self.camera
        disk = shutil.disk_usage(self.sessions_dir if self.sessions_dir.exists() else Path("/"))
        return {
            "camera": (
                f"ok, {cam.frames_read} frames" if cam.connected else f"not connected ({cam.last_error or 'starting'})"
            ),
            "bridge": self.lights.status(),
            "printer": self.printer.status(),
            "download": self.downloads.status(),
            "models": "ok" if self.models_ok() else "missing (run `kiosk models fetch`)",
            "disk": f"{disk.free / 1e9:.1f} GB free of {disk.total / 1e9:.1f} GB",
            **self._processor_status(),
        }

    def _processor_status(self) -> dict[str, str]:
        status = getattr(self.worker.processor, "status", None)
        if not callable(status):
            return {}
        try:
            return dict(status())
        except Exception as err:  # noqa: BLE001  # reason: a status line must never break the operator menu
            return {"processing": f"status unavailable: {err}"}

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
