"""Calibration: cost of applying the profile per frame, cost of a colour calibration, loop frame counts.

Floors are measured in the same run: applying the profile is compared with one cv2.LUT pass over
the same frame (the cheapest per-pixel operation there is), and a whole colour calibration with the
chart detection alone. Also reports the ΔE2000 reached on the synthetic test scenes and how many
frames the light loop needs. The profile runs once per capture (not per preview frame), so tens
of ms on a 1080p frame are fine. Usage: python -m bench.calibration [--repeat N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform

import cv2
import numpy as np

from bench._common import emit, median, time_ms
from calibration.colour import ColorFit, apply_fit, calibrate_color, detect_chart, score_sample
from calibration.lights import LightTargets, RegionMeter, converge
from calibration.profile import ColorSection, LensSection, Profile, utc_now
from calibration.synthetic import ChartScene, MemoryLights, RelitCamera, render_chart, studio_scene

SCENES = {
    "D65": ChartScene(seed=1),
    "A_tungsten": ChartScene(illuminant="A", exposure=0.5, seed=2),
    "F2_fluorescent_dim": ChartScene(illuminant="F2", exposure=0.45, seed=3),
    "F11_triphosphor": ChartScene(illuminant="F11", exposure=0.8, seed=4),
    "green_cast": ChartScene(cast_gains=(0.8, 1.15, 0.85), exposure=0.8, seed=5),
}


def _profile(fit: ColorFit, lens: bool) -> Profile:
    now = utc_now()
    color = ColorSection(
        calibrated_at=now, model=fit.model, wb=(float(fit.wb[0]), float(fit.wb[1]), float(fit.wb[2])),
        ccm=tuple(tuple(float(v) for v in row) for row in fit.ccm),  # type: ignore[arg-type]  # reason: 3 rows
        mean_delta_e2000=0.0, max_delta_e2000=0.0,
    )  # fmt: skip
    lens_section = LensSection(
        calibrated_at=now, camera_matrix=((1500.0, 0.0, 960.0), (0.0, 1500.0, 540.0), (0.0, 0.0, 1.0)),
        distortion=(-0.12, 0.05, 0.0, 0.0, 0.0), image_size=(1920, 1080), rms_px=0.2,
    )  # fmt: skip
    return Profile(created_at=now, camera_id="bench", color=color, lens=lens_section if lens else None)


def main() -> None:
    """Run and print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    quality = {}
    fit = None
    for name, scene in SCENES.items():
        cal = calibrate_color(render_chart(scene))
        held = render_chart(dataclasses.replace(scene, seed=scene.seed + 100, tilt_deg=(-6.0, 10.0, 3.0)))
        hs = score_sample(detect_chart(apply_fit(held, cal.fit)))
        quality[name] = {
            "before_mean": round(cal.before.mean, 2),
            "after_mean": round(cal.after.mean, 2),
            "after_max": round(cal.after.max, 2),
            "holdout_mean": round(hs.mean, 2),
            "holdout_max": round(hs.max, 2),
        }
        if name == "A_tungsten":
            fit = cal.fit
    assert fit is not None

    chart = render_chart(SCENES["A_tungsten"])
    detector_ms = median(time_ms(lambda: detect_chart(chart), args.repeat))
    calibrate_ms = median(time_ms(lambda: calibrate_color(chart), args.repeat))

    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8), (0, 0), 2)
    lut = np.arange(256, dtype=np.uint8)[::-1].copy()
    floor_ms = median(time_ms(lambda: cv2.LUT(frame, lut), args.repeat * 4))
    colour_profile = _profile(fit, lens=False)
    full_profile = _profile(fit, lens=True)
    colour_ms = median(time_ms(lambda: colour_profile.apply(frame), args.repeat))
    full_ms = median(time_ms(lambda: full_profile.apply(frame), args.repeat))

    frames = []
    for targets in (
        LightTargets(),
        LightTargets(exposure=0.4, key_fill_ratio=3.0),
        LightTargets(exposure=0.6),
    ):
        lights = MemoryLights()
        albedo, person, key_weight, regions = studio_scene()
        cam = RelitCamera(albedo, person, key_weight, lights.read_levels)
        res = converge(
            lights, cam.grab, RegionMeter(regions["face"], regions["backdrop"]), targets, settle_s=0
        )
        frames.append({"converged": res.converged, "frames": res.iterations})

    emit(
        {
            "benchmark": "calibration",
            "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
            "apply_1080p": {
                "lut_floor_ms": floor_ms,
                "colour_ms": colour_ms,
                "colour_plus_lens_ms": full_ms,
                "colour_ratio_to_floor": round(colour_ms / floor_ms, 2),
                "colour_plus_lens_ratio_to_floor": round(full_ms / floor_ms, 2),
            },
            "colour_calibration_1280x960": {
                "detect_floor_ms": detector_ms,
                "calibrate_ms": calibrate_ms,
                "ratio_to_floor": round(calibrate_ms / detector_ms, 2),
            },
            "delta_e2000": quality,
            "light_loop": frames,
        }
    )


if __name__ == "__main__":
    main()
