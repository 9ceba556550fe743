"""Assemble the kiosk once: every part built from the config, any part replaceable, closed once.

`kiosk run`, the demo, the soak, the benchmarks and the tests all use it (Home Assistant's `runtime_data`:
one typed record of the live objects, built at set-up and torn down in one place)::

    parts = assemble(cfg, Overrides(camera=VirtualCamera(...), lights=NoopLights()))
    parts.controller.start()
    ...
    parts.close()            # controller (camera, framing, processing, lights), delivery, outboxes, sweeper, store

No Kivy here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.app.controller import KioskController
from kiosk.app.outboxes import Outboxes
from kiosk.app.processor import Processor, StudioProcessor
from kiosk.app.station import Station
from kiosk.camera.base import Camera, CameraThread, create_camera
from kiosk.config import KioskConfig
from kiosk.delivery.ports import Downloads, Printer, close_delivery
from kiosk.lights import Lights, make_lights
from kiosk.session.framing_worker import Detector, FramingTargets, FramingWorker
from kiosk.session.store import SessionStore, Sweeper

if TYPE_CHECKING:
    from models.diffusion.pack import StylePreset

log = logging.getLogger(__name__)


DEMO_BRIDGE_URL = "sim://demo?wire=0"


def demo_devices(cfg: KioskConfig) -> tuple[Camera, Lights]:
    """The demo's virtual camera (bundled portrait, gentle motion) and the simulated bridge's lights."""
    from kiosk.camera.config import VirtualCameraConfig
    from kiosk.camera.virtual import VirtualCamera
    from kiosk.lights import BridgeLights, LightsConfig, NoopLights

    lights: Lights

    source = cfg.camera.source if cfg.camera.backend == "virtual" else None
    camera = VirtualCamera(VirtualCameraConfig(source=source))
    try:
        from firmware_bridge.sim import start

        start(DEMO_BRIDGE_URL)
        lights = BridgeLights(LightsConfig(port_url=DEMO_BRIDGE_URL))
    except ImportError:
        lights = NoopLights()
    return camera, lights


def detector_factory(cfg: KioskConfig) -> Callable[[], Detector]:
    """The short-range BlazeFace (320 px), the full-range one (640 px) for a distant guest, and the iris model.

    The full-range model and the iris model are used when installed (a models folder from an older
    release may lack them): without the iris model the guest's gaze is not judged.
    """
    from kiosk.session.framing_worker import NearFarDetector
    from models.errors import ModelError
    from models.store import ModelStore
    from models.vision import FaceDetector, IrisLandmarker

    store = ModelStore(cfg.models_dir)
    near = store.path("face_detector_short")
    try:
        far: Path | None = store.path("face_detector_full")
    except ModelError:
        far = None  # guidance still works; a distant guest hears "step in front of the camera"
    try:
        iris: Path | None = store.path("iris_landmarks")
    except ModelError:
        iris = None

    def build() -> Detector:
        eyes = None
        if iris is not None:
            try:
                eyes = IrisLandmarker(iris)
            except ModelError as err:  # a damaged file costs the gaze hint, never the live framing
                log.warning("gaze is not judged: %s", err)
        return NearFarDetector(FaceDetector(near, min_confidence=0.5, max_side=320),
                               FaceDetector(far, min_confidence=0.5, max_side=640) if far is not None else None,
                               eyes=eyes)

    return build


def models_ok(cfg: KioskConfig) -> Callable[[], bool]:
    """A check that the vision models are installed."""

    def check() -> bool:
        from models.errors import ModelError
        from models.store import ModelStore

        try:
            store = ModelStore(cfg.models_dir)
            for name in ("face_detector_short", "selfie_segmenter"):
                store.path(name)
        except ModelError:
            return False
        return True

    return check


def studio_processor(cfg: KioskConfig) -> StudioProcessor:
    """The app's processor: studio pipeline, calibration profile, C2PA signing, generation worker.

    The generation worker exists when a model pack is installed; the controller starts it off the UI thread.
    An unreadable profile file is a start-up error (calibration.errors.ProfileError), never a silent skip.
    """
    from calibration.profile import profile_for_config
    from kiosk.camera.base import camera_id_for
    from kiosk.generation.factory import make_generator

    profile, warnings = profile_for_config(cfg.calibration, cfg.data_dir, camera_id=camera_id_for(cfg.camera))
    generator, reason = make_generator(cfg.generation, cfg.models_dir)
    ai_styles: dict[str, StylePreset] = {}
    if generator is not None:
        from models.diffusion.pack import read_manifest

        ai_styles = dict(read_manifest(cfg.generation.resolved_pack_dir(cfg.models_dir)).styles)
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


@dataclass
class Overrides:
    """Parts to use instead of the config's (a virtual camera, the bridge simulator, a test processor)."""

    camera: Camera | None = None
    lights: Lights | None = None
    processor: Processor | None = None
    downloads: Downloads | None = None
    printer: Printer | None = None
    store: SessionStore | None = None  # a store the caller opened (and closes): shared, not owned
    clock: Callable[[], float] = time.monotonic
    sweeper: bool = True  # run the retention sweeper thread
    config_path: str | None = None  # the file `config` came from (--config); the operator's settings go there


@dataclass
class KioskParts:
    """Every live part of one kiosk, built by assemble() and closed by close()."""

    config: KioskConfig
    store: SessionStore
    controller: KioskController
    downloads: Downloads
    printer: Printer
    sweeper: Sweeper | None
    own_store: bool = True
    outboxes: Outboxes | None = None  # e-mail and hand-off senders (the station's channels)
    _closed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def close(self) -> None:
        """Stop everything, once: the controller's threads and lights, delivery, the sweeper, the store."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.controller.stop()
        finally:
            close_delivery(self.downloads, self.printer)
            if self.outboxes is not None:
                self.outboxes.stop()  # queued items stay in the store: the next start sends them
            if self.sweeper is not None:
                self.sweeper.stop()
            if self.own_store:
                self.store.close()

    def __enter__(self) -> KioskParts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def assemble(config: KioskConfig, overrides: Overrides | None = None) -> KioskParts:
    """Build the kiosk's parts from the config (nothing starts moving until controller.start())."""
    from kiosk.delivery.adapters import make_ports

    o = overrides or Overrides()
    store = o.store if o.store is not None else SessionStore(config.data_dir, config.retention)
    try:
        if o.store is None:  # a store handed in (the demo's, a test's) holds its owner's sessions, not a crash's
            for rec in store.pending():
                log.warning("session %s was %s but not delivered before the kiosk stopped; its files are kept "
                            "until retention removes them", rec.id, rec.step.value)
        downloads, printer = o.downloads, o.printer
        if downloads is None or printer is None:
            d, p = make_ports(config, store)
            downloads = downloads or d
            printer = printer or p
        cam_thread = CameraThread(o.camera if o.camera is not None else create_camera(config.camera), clock=o.clock)
        framing = FramingWorker(cam_thread, detector_factory(config),
                                FramingTargets(stillness_s=config.ui.stillness_s), clock=o.clock)
        outboxes = Outboxes.from_config(config, store)
        station = Station.from_config(config, store, outboxes, cam_thread, o.clock)
        controller = KioskController(
            config.ui,
            store,
            cam_thread,
            framing,
            o.processor or studio_processor(config),
            lights=o.lights if o.lights is not None else make_lights(config.lights),
            downloads=downloads,
            printer=printer,
            clock=o.clock,
            models_ok=models_ok(config),
            lights_cfg=config.lights,
            station=station,
        )
    except BaseException:
        if o.store is None:
            store.close()
        raise
    from kiosk.app.settings import SettingsFile
    from kiosk.config import config_file

    controller.settings = SettingsFile(config_file(o.config_path), config)
    sweeper = Sweeper(store).start() if o.sweeper else None
    return KioskParts(config, store, controller, downloads, printer, sweeper, own_store=o.store is None,
                      outboxes=outboxes.start())
