import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.colorspace import srgb_to_linear
from calibration.errors import LightsError
from calibration.lights import BridgeLights, FaceMeter, LightTargets, RegionMeter, converge, explain_failure
from calibration.synthetic import LightResponse, MemoryLights, RelitCamera, studio_scene

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
_names = itertools.count()


def _booth(levels, response=None, mirror=False, seed=0):
    albedo, person, key_weight, regions = studio_scene()
    if mirror:
        albedo, person, key_weight = albedo[:, ::-1], person[:, ::-1], key_weight[:, ::-1]
        w = albedo.shape[1]
        for name, (x, y, bw, bh) in list(regions.items()):
            regions[name] = (w - x - bw, y, bw, bh)
    cam = RelitCamera(albedo, person, key_weight, levels, response=response, seed=seed)
    return cam, RegionMeter(regions["face"], regions["backdrop"])


def _check_met(result, targets, cam, meter):
    """Meter a fresh frame at the final levels, independently of the loop's own bookkeeping."""
    left, right, back = meter.measure(cam.grab())
    key, fill = (left, right) if result.key_side == "left" else (right, left)
    want = targets.vector()
    got = np.array([key, fill, back])
    # Frame noise on top of the loop's tolerance.
    assert np.all(np.abs(got - want) / want <= targets.tolerance + 0.02), (got, want)


@pytest.mark.parametrize(
    "targets",
    [
        LightTargets(),
        LightTargets(exposure=0.4, key_fill_ratio=3.0, backdrop_ratio=1.2),
        LightTargets(exposure=0.6, key_fill_ratio=1.3, backdrop_ratio=0.5),
    ],
)
@pytest.mark.parametrize("start", [None, {"key": 100, "fill": 900, "backdrop": 0}])
def test_converges_on_exposure_and_ratios(targets, start):
    lights = MemoryLights()
    cam, meter = _booth(lights.read_levels)
    result = converge(lights, cam.grab, meter, targets, start=start, settle_s=0)
    assert result.converged, result.as_dict()
    assert result.iterations <= targets.max_iterations
    assert lights.read_levels() == result.levels
    assert result.key_side == "left"
    assert result.key_fill_ratio == pytest.approx(targets.key_fill_ratio, rel=2.5 * targets.tolerance)
    _check_met(result, targets, cam, meter)


def test_finds_the_key_on_the_other_side():
    lights = MemoryLights()
    cam, meter = _booth(lights.read_levels, mirror=True)
    result = converge(lights, cam.grab, meter, LightTargets(), settle_s=0)
    assert result.converged and result.key_side == "right"


def test_settle_time_is_waited_before_each_frame():
    lights = MemoryLights()
    cam, meter = _booth(lights.read_levels)
    waits = []
    result = converge(lights, cam.grab, meter, LightTargets(), settle_s=0.25, sleep=waits.append)
    assert waits == [0.25] * result.iterations == [0.25] * cam.frames


def test_unreachable_target_stops_within_budget_and_says_why():
    lights = MemoryLights()
    dim = LightResponse(
        key_on_key_side=0.08, key_on_fill_side=0.01, fill_on_fill_side=0.05, fill_on_key_side=0.01
    )
    cam, meter = _booth(lights.read_levels, response=dim)
    targets = LightTargets(exposure=0.7, max_iterations=10)
    result = converge(lights, cam.grab, meter, targets, settle_s=0)
    assert not result.converged
    assert result.iterations <= 10
    assert result.levels["key"] == 1000
    assert "key light is at full power" in explain_failure(result, targets)


def test_a_dead_channel_is_reported_as_wiring():
    lights = MemoryLights()
    # The backdrop light does nothing: it is not connected where the config says.
    cam, meter = _booth(lambda: {**lights.read_levels(), "backdrop": 0})
    with pytest.raises(LightsError, match="wired"):
        converge(lights, cam.grab, meter, LightTargets(), settle_s=0)


def test_too_small_a_frame_budget_is_refused():
    lights = MemoryLights()
    cam, meter = _booth(lights.read_levels)
    with pytest.raises(LightsError, match="at least 4"):
        converge(lights, cam.grab, meter, LightTargets(max_iterations=3), settle_s=0)


# -- through the firmware bridge simulator (real firmware logic on a pty, real pyserial) ----------------


@pytest.fixture
def bridge():
    from firmware_bridge import sim
    from firmware_bridge.client import BridgeClient

    url = f"sim://calibration-{next(_names)}"
    client = BridgeClient(url).start()
    try:
        client.wait_ready(timeout_s=10)
        yield client, sim.get_sim(url)
    finally:
        client.close()
        sim.get_sim(url).close()


CHANNELS = {"key": 2, "fill": 0, "backdrop": 3}


def test_converges_through_the_bridge_simulator(bridge):
    client, device = bridge
    lights = BridgeLights(client, CHANNELS, max_ms=60000)

    def firmware_levels():
        # The camera sees what the simulated board drives, not what the host asked for.
        levels = device.snapshot().levels
        return {role: levels[ch] for role, ch in CHANNELS.items()}

    cam, meter = _booth(firmware_levels)
    targets = LightTargets(exposure=0.45, key_fill_ratio=2.5, backdrop_ratio=0.9)
    result = converge(lights, cam.grab, meter, targets, settle_s=0)
    assert result.converged, result.as_dict()
    assert firmware_levels() == result.levels
    assert lights.read_levels() == result.levels  # STATUS over the link agrees
    assert device.snapshot().levels[1] == 0  # the unused channel was never touched
    _check_met(result, targets, cam, meter)


def test_bridge_adapter_validates_channels(bridge):
    client, _ = bridge
    with pytest.raises(LightsError, match="share a channel"):
        BridgeLights(client, {"key": 0, "fill": 0, "backdrop": 1})
    with pytest.raises(LightsError, match="light channels"):
        BridgeLights(client, {"key": 0, "fill": 1, "backdrop": 7})
    with pytest.raises(LightsError, match="unknown light role"):
        BridgeLights(client, {"key": 0, "rim": 1})


# -- metering a real face with MediaPipe -----------------------------------------------------------------


def test_face_meter_on_a_relit_portrait_converges():
    from kiosk.config import load_config
    from models.errors import ModelError
    from models.store import ModelStore
    from models.vision import FaceDetector, SelfieSegmenter

    photo = SHARED / "testdata" / "portraits" / "nasa_woman_light_skin_01.png"
    if not photo.is_file():
        pytest.skip(f"test portrait not found at {photo}")
    store = ModelStore(load_config().models_dir)
    try:
        detector = FaceDetector(store.path("face_detector_short"))
        segmenter = SelfieSegmenter(store.path("selfie_segmenter"))
    except ModelError as err:
        pytest.skip(f"MediaPipe models not installed ({err}); run `kiosk models fetch`")
    bgr = cv2.imread(str(photo))
    scale = 480 / max(bgr.shape[:2])
    bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    faces = detector.detect(bgr)
    assert faces
    face = max(faces, key=lambda f: f.area)
    h, w = bgr.shape[:2]
    person = cv2.resize(segmenter.segment(bgr), (w, h)) > 0.5
    # Reflectance: the photo's own light divided out roughly, so the booth's lights dominate.
    albedo = np.clip(srgb_to_linear(bgr / 255.0) / 0.6, 0.02, 0.9)
    nose_x = face.keypoints["nose"][0]
    xx = np.arange(w, dtype=np.float32)[None, :].repeat(h, axis=0)
    key_weight = 1.0 / (1.0 + np.exp(-(xx - nose_x) / (0.08 * face.w)))  # key from the image's right
    lights = MemoryLights()
    cam = RelitCamera(albedo, person.astype(np.float32), key_weight, lights.read_levels, seed=3)
    meter = FaceMeter(detector, segmenter)
    # The photo keeps some of its own shading, which caps the reachable ratio near 2: aim below it.
    targets = LightTargets(exposure=0.5, key_fill_ratio=1.6, backdrop_ratio=0.8, tolerance=0.05)
    result = converge(lights, cam.grab, meter, targets, settle_s=0)
    detector.close()
    segmenter.close()
    assert result.key_side == "right"
    assert result.converged, result.as_dict()
    assert result.iterations <= targets.max_iterations
