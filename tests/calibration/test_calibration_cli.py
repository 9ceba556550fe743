import dataclasses
import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.colour import detect_chart, score_sample
from calibration.profile import load_profile
from calibration.synthetic import ChartScene, LensScene, default_board_poses, render_chart, render_chessboards
from kiosk.cli import main

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
TUNGSTEN = ChartScene(illuminant="A", exposure=0.5, seed=11)
_names = itertools.count()


@pytest.fixture
def booth(tmp_path, monkeypatch):
    """A config whose calibration profile lives in tmp_path (models stay in the default data folder)."""
    monkeypatch.delenv("KIOSK_CONFIG", raising=False)
    profile = tmp_path / "calib" / "profile.json"
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'[calibration]\nprofile = "{profile}"\n')
    return cfg, profile


def run(cfg, *argv):
    return main(["--config", str(cfg), *argv])


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kiosk: ") and "Traceback" not in err[0], err
    return err[0]


def test_color_then_apply_corrects_a_tungsten_capture(booth, tmp_path, capsys):
    cfg, profile = booth
    chart = tmp_path / "chart.png"
    cv2.imwrite(str(chart), render_chart(TUNGSTEN))
    assert run(cfg, "calibrate", "color", str(chart), "--camera-id", "booth-cam") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mean_delta_e2000"] <= 2.0 and out["max_delta_e2000"] <= 5.0
    assert out["before"]["mean_delta_e2000"] > 10
    assert out["profile"] == str(profile)
    saved = load_profile(profile)
    assert saved.camera_id == "booth-cam" and saved.color is not None
    assert saved.color.mean_delta_e2000 == pytest.approx(out["mean_delta_e2000"], abs=1e-3)

    # Another capture under the same light, corrected by `kiosk calibrate apply`.
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), render_chart(dataclasses.replace(TUNGSTEN, seed=12, tilt_deg=(-5, 8, 2))))
    fixed = tmp_path / "fixed.png"
    assert run(cfg, "calibrate", "apply", str(other), "-o", str(fixed)) == 0
    assert json.loads(capsys.readouterr().out)["applied"] == ["color"]
    score = score_sample(detect_chart(cv2.imread(str(fixed))))
    assert score.mean <= 2.0 and score.max <= 5.0
    # JPEG output goes through the delivery encoder (sRGB ICC), still corrected.
    assert run(cfg, "calibrate", "apply", str(other), "-o", str(tmp_path / "fixed.jpg")) == 0
    capsys.readouterr()
    jpeg_score = score_sample(detect_chart(cv2.imread(str(tmp_path / "fixed.jpg"))))
    assert jpeg_score.mean <= 2.5


def test_lens_and_show(booth, tmp_path, capsys):
    cfg, profile = booth
    scene = LensScene()
    names = []
    for i, img in enumerate(render_chessboards(scene, default_board_poses(scene, 8, seed=4), seed=4)):
        names.append(str(tmp_path / f"board{i}.png"))
        cv2.imwrite(names[-1], img)
    assert run(cfg, "calibrate", "lens", *names, "--board", "9x6", "--camera-id", "booth-cam") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fx"] == pytest.approx(scene.focal_px, rel=0.01)
    assert out["views_used"] == 8 and out["rms_px"] < 0.3
    assert load_profile(profile).lens is not None
    assert run(cfg, "calibrate", "show") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["camera_id"] == "booth-cam" and shown["lens"]["image_size"] == [640, 480]
    # The configured camera is not "booth-cam": show says so.
    assert any("booth-cam" in w for w in shown["warnings"])


def test_lights_converge_through_the_simulator(booth, capsys):
    from firmware_bridge import sim

    cfg, profile = booth
    url = f"sim://calibrate-cli-{next(_names)}"
    try:
        assert run(cfg, "calibrate", "lights", "--port", url, "--synthetic", "--profile", str(profile)) == 0
        out = json.loads(capsys.readouterr().out)
        levels = sim.get_sim(url).snapshot().levels
    finally:
        sim.get_sim(url).close()
    assert out["converged"] and out["iterations"] <= 12
    assert abs(out["key_fill_ratio"] - 2.0) <= 0.1
    saved = load_profile(profile)
    assert saved.lights is not None and saved.lights.levels == out["levels"]
    # Default channels: key 0, fill 1, backdrop 2; the firmware holds the converged levels.
    assert levels[:3] == [out["levels"]["key"], out["levels"]["fill"], out["levels"]["backdrop"]]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["calibrate", "color"], "give an IMAGE"),
        (["calibrate", "color", "/nonexistent.png"], "nonexistent"),
        (["calibrate", "apply", "/nonexistent.png", "-o", "/tmp/x.png"], "no calibration profile"),
        (["calibrate", "apply", "in.png", "-o", "/tmp/x.gif"], ".jpg or .png"),
        (["calibrate", "lens", "a.png", "--board", "nine"], "COLSxROWS"),
        (["calibrate", "lights", "--synthetic", "--port", "sim://unused"], "never writes"),
    ],
)
def test_bad_input_exits_2_with_one_line(booth, capsys, argv, match):
    cfg, _ = booth
    assert run(cfg, *argv) == 2
    assert match in one_error_line(capsys)


def test_no_chart_and_corrupt_profile_exit_2(booth, tmp_path, capsys):
    cfg, profile = booth
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((480, 640, 3), 120, np.uint8))
    assert run(cfg, "calibrate", "color", str(blank)) == 2
    assert "no ColorChecker" in one_error_line(capsys)
    profile.parent.mkdir(parents=True, exist_ok=True)
    profile.write_text('{"version": 1, "camera_id": "x"}')
    assert run(cfg, "calibrate", "apply", str(blank), "-o", str(tmp_path / "o.png")) == 2
    assert "invalid calibration profile" in one_error_line(capsys)


def test_headshot_applies_the_calibration_profile(booth, tmp_path, capsys):
    from calibration.profile import ColorSection, Profile, save_profile, utc_now

    photo = SHARED / "testdata" / "portraits" / "nasa_woman_light_skin_01.png"
    if not photo.is_file():
        pytest.skip(f"test portrait not found at {photo}")
    cfg, profile = booth
    # A deliberately strong correction (a cool white balance), so its effect is unmistakable.
    cool = ColorSection(
        calibrated_at=utc_now(), model="linear", wb=(0.6, 1.0, 1.6),
        ccm=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)), mean_delta_e2000=0.0, max_delta_e2000=0.0,
    )  # fmt: skip
    save_profile(Profile(created_at=utc_now(), camera_id="booth-cam", color=cool), profile)
    plain_cfg = tmp_path / "plain.toml"
    plain_cfg.write_text(f'[calibration]\nprofile = "{profile}"\nenabled = false\n')

    def blue_over_red(cfg_path, name):
        out = tmp_path / name
        code = main(["--config", str(cfg_path), "headshot", str(photo), "-o", str(out), "--json"])
        if code != 0 and "model" in capsys.readouterr().err:
            pytest.skip("MediaPipe models are not installed (run `kiosk models fetch`)")
        assert code == 0
        capsys.readouterr()
        img = cv2.imread(str(out)).astype(np.float64)
        h, w = img.shape[:2]
        centre = img[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]  # the guest, not the backdrop
        return centre[..., 0].mean() / centre[..., 2].mean()

    plain = blue_over_red(plain_cfg, "plain.jpg")
    calibrated = blue_over_red(cfg, "calibrated.jpg")
    # The pipeline's own light correction pulls some of it back; the shift stays plain to see.
    assert calibrated > plain * 1.15, (plain, calibrated)


def _virtual_camera_config(tmp_path, profile, source, width, height):
    cfg = tmp_path / "virtual.toml"
    cfg.write_text(
        f'[calibration]\nprofile = "{profile}"\nsettle_ms = 0\n\n'
        f'[camera]\nbackend = "virtual"\nsource = "{source}"\nwidth = {width}\nheight = {height}\n'
        "fps = 120\nmotion = 0\n"
    )
    return cfg


def test_color_from_the_configured_camera(booth, tmp_path, capsys):
    _, profile = booth
    chart = tmp_path / "chart.png"
    cv2.imwrite(str(chart), render_chart(TUNGSTEN))
    cfg = _virtual_camera_config(tmp_path, profile, chart, 1280, 960)
    assert run(cfg, "calibrate", "color", "--camera") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["camera_id"] == f"virtual:{chart}"
    assert out["mean_delta_e2000"] <= 2.0 and out["max_delta_e2000"] <= 5.0
    assert load_profile(profile).camera_id == f"virtual:{chart}"


def test_lights_with_a_camera_that_does_not_see_them_fail_clearly(booth, tmp_path, capsys):
    """The real rig (camera, MediaPipe meter, bridge): a still photo never responds to the lights."""
    from firmware_bridge import sim

    photo = SHARED / "testdata" / "portraits" / "nasa_woman_light_skin_01.png"
    if not photo.is_file():
        pytest.skip(f"test portrait not found at {photo}")
    _, profile = booth
    cfg = _virtual_camera_config(tmp_path, profile, photo, 640, 800)
    url = f"sim://calibrate-cli-{next(_names)}"
    try:
        code = run(cfg, "calibrate", "lights", "--port", url)
    finally:
        sim.get_sim(url).close()
    err = capsys.readouterr().err
    if "model" in err and "kiosk models fetch" in err:
        pytest.skip("MediaPipe models are not installed (run `kiosk models fetch`)")
    assert code == 2, err
    assert "wired as configured" in err and len(err.strip().splitlines()) == 1
    assert not profile.exists()
