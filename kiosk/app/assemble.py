"""Build a KioskController from the config (shared by `kiosk run`, the demo and the tests). No Kivy."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.app.controller import KioskController
from kiosk.app.processor import Processor, StudioProcessor
from kiosk.camera.base import CameraThread, create_camera
from kiosk.config import KioskConfig
from kiosk.delivery.ports import Downloads, Printer, make_delivery
from kiosk.lights import Lights, make_lights
from kiosk.session.framing_worker import FramingTargets, FramingWorker

SESSIONS_SUBDIR = "kiosk-sessions"


def detector_factory(cfg: KioskConfig) -> Callable[[], Any]:
    """The short-range BlazeFace on frames downscaled to 320 px (built on the framing thread)."""
    from models.store import ModelStore
    from models.vision import FaceDetector

    path = ModelStore(cfg.models_dir).path("face_detector_short")
    return lambda: FaceDetector(path, min_confidence=0.5, max_side=320)


def models_ok(cfg: KioskConfig) -> Callable[[], bool]:
    """A check that the vision models are installed."""

    def check() -> bool:
        from models.store import ModelStore

        try:
            store = ModelStore(cfg.models_dir)
            for name in ("face_detector_short", "selfie_segmenter"):
                store.path(name)
        except Exception:  # noqa: BLE001  # reason: any failure means "not usable" for the status line
            return False
        return True

    return check


def studio_processor(cfg: KioskConfig) -> StudioProcessor:
    """The app's processor: studio pipeline, calibration profile, C2PA signing, generation worker.

    The generation worker exists when a model pack is installed; the controller starts it off the UI thread.

    An unreadable profile file is a start-up error (calibration.errors.ProfileError), never a silent skip.
    """
    from calibration.profile import profile_for_config
    from kiosk.commands.calibrate import camera_id_for
    from kiosk.generation.factory import make_generator

    profile, warnings = profile_for_config(cfg.calibration, cfg.data_dir, camera_id=camera_id_for(cfg.camera))
    generator, reason = make_generator(cfg.generation, cfg.models_dir)
    ai_styles: list[str] = []
    if generator is not None:
        from models.diffusion.pack import read_manifest

        ai_styles = list(read_manifest(cfg.generation.resolved_pack_dir(cfg.models_dir)).styles)
    return StudioProcessor(
        cfg.models_dir,
        cfg.pipeline,
        cfg.pipeline.jpeg_quality,
        provenance=cfg.delivery.provenance,
        profile=profile,
        profile_warnings=warnings,
        generation=cfg.generation,
        generator=generator,
        generation_reason=reason,
        ai_styles=ai_styles,
    )


def build_controller(
    cfg: KioskConfig,
    *,
    camera: Any = None,
    lights: Lights | None = None,
    processor: Processor | None = None,
    downloads: Downloads | None = None,
    printer: Printer | None = None,
    sessions_dir: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> KioskController:
    """The controller for this config; any part can be replaced (a virtual camera, a sim bridge)."""
    cam = camera if camera is not None else create_camera(cfg.camera)
    cam_thread = CameraThread(cam, clock=clock)
    targets = FramingTargets(stillness_s=cfg.ui.stillness_s)
    framing = FramingWorker(cam_thread, detector_factory(cfg), targets, clock=clock)
    if downloads is None or printer is None:
        d, p = make_delivery(cfg)
        downloads = downloads or d
        printer = printer or p
    return KioskController(
        cfg.ui,
        sessions_dir or cfg.data_dir / SESSIONS_SUBDIR,
        cam_thread,
        framing,
        processor or studio_processor(cfg),
        lights=lights if lights is not None else make_lights(cfg.lights),
        downloads=downloads,
        printer=printer,
        clock=clock,
        models_ok=models_ok(cfg),
    )
