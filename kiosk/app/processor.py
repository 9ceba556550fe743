"""The processing side of a session: the studio pipeline and the AI generation behind one Processor protocol.

Runs on the processing thread only (kiosk.app.worker); nothing here knows the state machine or Kivy.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from kiosk.status import Level, PartStatus

if TYPE_CHECKING:
    from calibration.profile import Profile
    from kiosk.delivery.provenance_config import ProvenanceConfig
    from kiosk.generation.config import GenerationConfig
    from kiosk.generation.supervisor import SupervisedGenerator
    from kiosk.pipeline.config import PipelineConfig
    from kiosk.pipeline.framing import Assessment
    from kiosk.pipeline.studio import StudioPipeline, StudioResult
    from models.diffusion.pack import StylePreset

log = logging.getLogger(__name__)
AI_PREFIX = "ai:"  # style names of the model pack's presets on the style screen ("ai:corporate")
ResultWriter = Callable[[str, bytes], Path]  # (file name, bytes) -> where the session store put it


class Processor(ABC):
    """Turns a capture into result files; runs on the processing thread only.

    Everything but process() has a do-nothing default, so a processor says only what it does.
    """

    makes_previews = False  # whether preview() draws the guest on each backdrop

    def __init__(self) -> None:
        """No notice, no AI styles."""
        self.notice: str | None = None  # set by process(): why an asked-for AI style fell back to studio
        self.ai_styles: list[str] = []  # the model pack's presets offered on the style screen ("ai:<preset>")
        self.ai_labels: dict[str, dict[str, str]] = {}  # "ai:<preset>" -> the preset's name per language
        self.ai_backdrops: dict[str, str] = {}  # "ai:<preset>" -> its backdrop colour (#RRGGBB), for previews

    @abstractmethod
    def process(
        self,
        bgr: np.ndarray,
        style: str,
        formats: list[str],
        write: ResultWriter,
        progress: Callable[[float, str], None],
    ) -> dict[str, Path]:
        """Write one JPEG per format through `write` (the session store); report progress 0..1 with a stage."""

    def preview(self, bgr: np.ndarray, styles: list[str], on_image: Callable[[str, np.ndarray], None],
                cancelled: Callable[[], bool]) -> None:  # fmt: skip
        """Small previews of the guest on each style (none by default)."""
        return None

    def warm_up(self) -> None:
        """Load slow models ahead of the first guest (off the UI thread); nothing by default."""
        return None

    def idle(self) -> None:
        """Watchdog tick between jobs (on the processing thread); nothing by default."""
        return None

    def reconfigure(self, pipeline_config: PipelineConfig) -> None:
        """Use a new `[pipeline]` section from the next job on (operator settings); nothing by default."""
        return None

    def status(self) -> dict[str, PartStatus]:
        """Operator status lines of the processing parts (none by default)."""
        return {}

    def close(self) -> None:
        """Release models (on the processing thread); nothing by default."""
        return None


class StudioProcessor(Processor):
    """The studio pipeline (kiosk.pipeline.studio), loaded once on the processing thread."""

    def __init__(
        self,
        models_dir: Path,
        pipeline_config: PipelineConfig,
        jpeg_quality: int = 92,
        *,
        provenance: ProvenanceConfig | None = None,
        profile: Profile | None = None,
        profile_warnings: list[str] | None = None,
        generation: GenerationConfig | None = None,
        generator: SupervisedGenerator | None = None,
        generation_reason: str | None = None,
        ai_styles: Mapping[str, StylePreset] | Sequence[str] | None = None,
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
            ai_styles: the model pack's style presets, offered as "ai:<preset>" next to the backdrops (names, or
                the manifest's presets by name, which bring their labels and backdrop colours).
        """
        super().__init__()
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
        if isinstance(ai_styles, Mapping) and generator is not None:
            self.ai_labels = {f"{AI_PREFIX}{k}": dict(v.labels) for k, v in ai_styles.items()}
            self.ai_backdrops = {f"{AI_PREFIX}{k}": v.backdrop for k, v in ai_styles.items() if v.backdrop}
        self.notice: str | None = None  # set by process(): why an asked-for AI style fell back to studio
        self.generation_state = "starting" if generator is not None else f"off: {self.generation_reason}"
        self._warming = threading.Event()  # set while warm_up() loads the pack: jobs then fall back at once
        self._pipe: StudioPipeline | None = None

    def _pipeline(self) -> StudioPipeline:
        from kiosk.pipeline.studio import StudioPipeline

        if self._pipe is None:
            self._pipe = StudioPipeline(self.models_dir, self.pipeline_config, profile=self.profile)
        return self._pipe

    def reconfigure(self, pipeline_config: PipelineConfig) -> None:
        """Brand colour and event backdrop from the next job on, models kept (called between sessions)."""
        self.pipeline_config = pipeline_config
        if self._pipe is not None:
            self._pipe.reconfigure(pipeline_config)

    makes_previews = True

    def status(self) -> dict[str, PartStatus]:
        """Operator status of the processing parts: the calibration profile and the AI generation."""
        if self.profile is None:
            calib = PartStatus("no calibration profile: captures are used as the camera delivers them", Level.WARN,
                               "calibrate the booth's camera colour: `kiosk calibrate color`")
        elif self.profile_warnings:
            calib = PartStatus(f"profile of camera '{self.profile.camera_id}' applied; "
                               + "; ".join(self.profile_warnings), Level.WARN, "calibrate again: `kiosk calibrate`")
        else:
            calib = PartStatus(f"profile of camera '{self.profile.camera_id}' applied")
        state = self.generation_state
        if state.startswith("off: no model pack") or self.generator is None:
            gen = PartStatus(state, Level.OFF)
        elif state.startswith("off"):
            gen = PartStatus(state, Level.FAIL, "see docs/operator/troubleshooting.md (generation); guests get "
                             "studio headshots meanwhile")
        elif "note:" in state or "studio result delivered" in state:
            gen = PartStatus(state, Level.WARN, "see the note; guests get studio headshots when AI cannot run")
        else:
            gen = PartStatus(state)
        return {"calibration": calib, "generation": gen}

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
        info = self.generator.info
        runtime = info.get("runtime") or {}
        notes = runtime.get("notes") or []
        self.generation_state = (
            f"ready ({info.get('model_id', 'pack')}, {runtime.get('backend', 'runtime')} "
            f"{info.get('precision', '')}; warm-up {time.monotonic() - t0:.1f} s)"
            + (f"; note: {'; '.join(notes)}" if notes else "")
        )

    def idle(self) -> None:
        """Watchdog tick between jobs: a generation worker that died while idle is restarted."""
        if self.generator is None:
            return
        if self.generator.check():
            self.generation_state = "restarted after the worker exited while idle"
        reason = self.generator.disabled_reason
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
        write: ResultWriter,
        progress: Callable[[float, str], None],
    ) -> dict[str, Path]:
        """Analyse once, compose and write each format (studio); then the AI composite for an "ai:" style.

        Progress is real: the studio pipeline reports its stages, the generation worker each denoising step.
        The studio files are written before generation starts, so a failed, hung or rejected generation
        still delivers them (and `notice` says why).
        """
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
        studio: dict[str, StudioResult] = {}
        n = len(formats)
        for i, fmt in enumerate(formats):

            def report(_stage: str, frac: float, i: int = i) -> None:
                progress(0.1 + studio_share * (i + frac) / n, _stage)

            res = pipe.headshot(img, style=backdrop, fmt=fmt, analysis=analysis, progress=report)
            studio[fmt] = res
            name = f"{fmt}-{backdrop}.jpg"
            data = self._encode(res.image, "edited", "Studio headshot by Headshot Kiosk", name)
            out[fmt] = write(name, data)
        if gen_style is not None:
            self._generate(img, analysis, gen_style, backdrop, formats, studio, out, write, 0.1 + studio_share,
                           progress)
        progress(1.0, "done")
        return out

    def _generate(
        self,
        img: np.ndarray,
        analysis: Assessment,
        style: str,
        backdrop: str,
        formats: list[str],
        studio: dict[str, StudioResult],
        out: dict[str, Path],
        write: ResultWriter,
        start: float,
        progress: Callable[[float, str], None],
    ) -> None:
        """One AI composite for every format (cut from one generation); on failure keep studio, say why."""
        import secrets

        from kiosk.pipeline.generative import GenerativePipeline
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
            out[fmt] = write(name, data)
        self.generation_state = f"ready; last job: AI composite '{style}' (seed {seed})"

    def _fell_back(self, reason: str) -> None:
        log.warning("AI style fell back to the studio result: %s", reason)
        self.notice = reason
        disabled = self.generator.disabled_reason if self.generator is not None else None
        state = f"off: {disabled}" if disabled else "ready" if self.generator is not None else "off"
        self.generation_state = f"{state}; last job: studio result delivered ({reason})"

    def preview(self, bgr: np.ndarray, styles: list[str], on_image: Callable[[str, np.ndarray], None],
                cancelled: Callable[[], bool], max_side: int = 360) -> None:  # fmt: skip
        """Small previews of the guest on each style's backdrop, one callback per style as it is ready.

        An AI style's preview is the guest's cut-out over the preset's backdrop colour (kiosk.app.style_preview):
        one matte for all of them, no model run.
        """
        from kiosk.app.style_preview import ai_preview, shrink

        pipe = self._pipeline()
        img = pipe.prepare(bgr)
        analysis = pipe.analyse(img)
        cutout: tuple[np.ndarray, np.ndarray] | None = None
        for style in styles:
            if cancelled():
                return
            if style.startswith(AI_PREFIX):
                if cutout is None:
                    res = pipe.headshot(img, style="transparent", fmt="portrait", analysis=analysis)
                    small = shrink(res.image, max_side)
                    size = (small.shape[1], small.shape[0])
                    cutout = small, cv2.resize(res.mask, size, interpolation=cv2.INTER_AREA)
                on_image(style, ai_preview(cutout[0], cutout[1], self.ai_backdrops.get(style)))
                continue
            res = pipe.headshot(img, style=style, fmt="portrait", analysis=analysis)
            on_image(style, shrink(res.image, max_side))

    def close(self) -> None:
        """Release the pipeline's models and stop the generation worker (call on the processing thread)."""
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        if self.generator is not None:
            self.generator.close()
