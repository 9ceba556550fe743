import json
import os
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from calibration.colour import ColorFit, apply_fit
from calibration.config import CalibrationConfig
from calibration.errors import ProfileError
from calibration.profile import (
    ColorSection,
    LensSection,
    LightsSection,
    Profile,
    active_profile,
    load_profile,
    profile_for_config,
    save_profile,
    update_profile,
)

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def color_section(when=T0, wb=(1.5, 1.0, 0.7)):
    ccm = ((1.2, -0.1, -0.1), (-0.05, 1.1, -0.05), (0.0, -0.2, 1.2))
    return ColorSection(
        calibrated_at=when, model="linear", wb=wb, ccm=ccm, mean_delta_e2000=0.8, max_delta_e2000=3.1
    )


def lens_section(when=T0):
    return LensSection(
        calibrated_at=when,
        camera_matrix=((560.0, 0.0, 326.0), (0.0, 560.0, 236.0), (0.0, 0.0, 1.0)),
        distortion=(-0.28, 0.09, 0.0, 0.0, 0.0),
        image_size=(640, 480),
        rms_px=0.1,
    )


def lights_section(when=T0):
    return LightsSection(
        calibrated_at=when,
        levels={"key": 700, "fill": 120, "backdrop": 400},
        exposure=0.5,
        key_fill_ratio=2.0,
        backdrop_ratio=0.8,
        iterations=6,
        converged=True,
    )


def full_profile():
    return Profile(
        created_at=T0, camera_id="cam-A", color=color_section(), lights=lights_section(), lens=lens_section()
    )


def test_round_trip_is_exact(tmp_path):
    p = full_profile()
    path = save_profile(p, tmp_path / "sub" / "profile.json")
    q = load_profile(path)
    assert q.model_dump() == p.model_dump()
    # Nothing but the profile is left behind by the atomic write.
    assert [f.name for f in path.parent.iterdir()] == ["profile.json"]


def _write(tmp_path, data):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(colour=d.pop("color")), "colour"),  # a typo is an error, not a silent default
        (lambda d: d["color"].update(ccm=[[1, 0], [0, 1], [0, 0]]), "3 terms per row"),
        (lambda d: d["color"].update(wb=[1.0, -1.0, 1.0]), "wb"),
        (lambda d: d.update(created_at="2026-01-10T12:00:00"), "timezone"),
        (lambda d: d["lights"]["levels"].update(key=1500), "levels"),
        (lambda d: d["lens"].update(camera_matrix=[[0, 0, 1], [0, 5, 1], [0, 0, 1]]), "camera_matrix"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(camera_id=""), "camera_id"),
        (lambda d: d["color"].update(wb=["1", 1.0, 1.0]), "wb"),  # strict: no string-to-number coercion
    ],
)
def test_invalid_profiles_are_refused_with_the_key_named(tmp_path, mutate, match):
    data = full_profile().model_dump(mode="json")
    mutate(data)
    with pytest.raises(ProfileError, match=match):
        load_profile(_write(tmp_path, data))


def test_unreadable_files_are_clear_errors(tmp_path):
    with pytest.raises(ProfileError, match="no calibration profile"):
        load_profile(tmp_path / "missing.json")
    with pytest.raises(ProfileError, match="invalid calibration profile"):
        load_profile(_write(tmp_path, "{not json"))
    with pytest.raises(ProfileError, match="too large"):
        load_profile(_write(tmp_path, " " * (2 << 20)))


def test_warnings_for_other_camera_and_old_sections():
    p = full_profile()
    assert p.warnings("cam-A", max_age_days=30, now=T0 + timedelta(days=29)) == []
    other = p.warnings("cam-B", max_age_days=30, now=T0 + timedelta(days=1))
    assert len(other) == 1 and "cam-B" in other[0] and "kiosk calibrate color" in other[0]
    old = p.warnings(None, max_age_days=30, now=T0 + timedelta(days=45))
    assert len(old) == 3 and all("45 days old" in w for w in old)


def test_apply_runs_colour_then_lens():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    colour_only = Profile(created_at=T0, camera_id="c", color=color_section())
    fit = ColorFit(wb=np.array([1.5, 1.0, 0.7]), ccm=np.array(colour_only.color.ccm), model="linear")
    np.testing.assert_array_equal(colour_only.apply(img), apply_fit(img, fit))
    both = full_profile()
    out = both.apply(img)
    assert out.shape == img.shape and not np.array_equal(out, colour_only.apply(img))
    # The input is never modified, and an empty profile returns an equal copy.
    empty = Profile(created_at=T0, camera_id="c")
    same = empty.apply(img)
    assert same is not img and np.array_equal(same, img)


def test_lens_is_skipped_for_another_aspect_ratio(caplog):
    p = Profile(created_at=T0, camera_id="c", lens=lens_section())
    wide = np.full((360, 640, 3), 128, np.uint8)
    assert np.array_equal(p.apply(wide), wide)
    assert "not 640x360" in caplog.text


def test_update_merges_sections_and_restarts_for_a_new_camera(tmp_path):
    path = tmp_path / "profile.json"
    p1, notes = update_profile(path, "cam-A", color=color_section())
    assert notes == [] and p1.color is not None
    p2, _ = update_profile(path, "cam-A", lens=lens_section())
    assert p2.color == p1.color and p2.lens is not None and p2.created_at == p1.created_at
    p3, notes = update_profile(path, "cam-B", lights=lights_section())
    assert p3.camera_id == "cam-B" and p3.color is None and p3.lens is None and p3.lights is not None
    assert "cam-A" in notes[0]
    assert load_profile(path).camera_id == "cam-B"


def test_update_replaces_a_corrupt_file_and_says_so(tmp_path):
    path = _write(tmp_path, "garbage")
    p, notes = update_profile(path, "cam-A", color=color_section())
    assert p.color is not None and "unreadable" in notes[0]


def test_active_profile_for_config(tmp_path):
    cfg = CalibrationConfig()
    assert profile_for_config(cfg, tmp_path) == (None, [])
    save_profile(full_profile(), tmp_path / "calibration" / "profile.json")
    prof, warnings = profile_for_config(cfg, tmp_path)
    assert prof is not None and prof.camera_id == "cam-A"
    assert any("days old" in w for w in warnings)  # T0 is long ago
    assert profile_for_config(CalibrationConfig(enabled=False), tmp_path) == (None, [])
    assert active_profile(tmp_path / "elsewhere.json") == (None, [])


def test_profile_file_is_written_atomically(tmp_path, monkeypatch):
    path = save_profile(full_profile(), tmp_path / "profile.json")
    before = path.read_bytes()

    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_profile(Profile(created_at=T0, camera_id="other"), path)
    assert path.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["profile.json"]
