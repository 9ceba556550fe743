"""Fairness report: does the studio pipeline treat every skin tone alike?

Per portrait: face found, skin-tone group (ITA°, Chardon bands), ΔE2000 of the mean skin colour across
the retouch step, and ΔL* of the skin across the whole pipeline (input vs delivered headshot). Then per
group the mean ΔL* and the refusal rate (refused faces are grouped by their own skin too).

The skin ΔL* is over the bench's own skin mask, which the retouch restores by construction, so it
cannot see a darker inner face. The inner-face measure can: the region between the eyes' x and from
the eye line to the mouth, its mean L* and 90th percentile (the highlights), sampled in the output and
in the input warped into the output's frame by the same transform (geometry only, so the two samples
cover the same skin). Target: |mean ΔL*| ≤ 0.5 for every portrait whose exposure was not corrected.
Targets: retouch ΔE2000 ≤ 2 for every portrait; no group's mean ΔL* more than 2 away
from the mean of the other groups. The floor, as in every benchmark, is a JPEG decode+encode of each
input measured in the same run (reported as the pipeline's time ratio).
Usage: python bench/fairness.py [--table]
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from bench._common import PORTRAITS, emit
from kiosk.config import load_config
from kiosk.errors import NoUsableFace
from kiosk.pipeline.colour import bgr_to_lab, ita_degrees, ita_group, mean_lab
from kiosk.pipeline.compose import warp_to_cell
from kiosk.pipeline.framing import looks_away
from kiosk.pipeline.imageio import load_image
from kiosk.pipeline.skin import face_roi, skin_mask
from kiosk.pipeline.studio import StudioPipeline


def skin_lab(bgr: np.ndarray, face) -> np.ndarray:
    """Mean CIELAB of the skin of `face` in `bgr`."""
    x0, y0, x1, y1 = roi = face_roi(face, bgr.shape, grow=0.25)
    return mean_lab(bgr[y0:y1, x0:x1], skin_mask(bgr, face, roi))


def inner_face_lab(bgr: np.ndarray, face) -> tuple[float, float]:
    """(mean L*, 90th-percentile L*) between the eyes' x, from the eye line to the mouth."""
    (rx, ry), (lx, ly) = face.keypoints["right_eye"], face.keypoints["left_eye"]
    _mx, my = face.keypoints["mouth"]
    x0, x1 = round(min(rx, lx)), round(max(rx, lx))
    y0, y1 = round((ry + ly) / 2), round(my)
    lightness = bgr_to_lab(bgr[y0:y1, x0:x1])[..., 0]
    return float(lightness.mean()), float(np.percentile(lightness, 90))


def main() -> None:
    """Run the report and print JSON (or a table)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", action="store_true", help="print a readable table instead of JSON")
    args = parser.parse_args()
    if not PORTRAITS.exists():
        raise SystemExit(f"fairness: {PORTRAITS} not found (../shared/testdata/portraits)")
    cfg = load_config()
    rows = []
    with StudioPipeline(cfg.models_dir, cfg.pipeline) as pipe:
        for path in sorted(p for p in PORTRAITS.iterdir() if p.suffix.lower() in (".jpg", ".png")):
            bgr = load_image(path).bgr
            row: dict[str, object] = {"portrait": path.name}
            try:
                analysis = pipe.analyse(bgr)
            except NoUsableFace as err:
                row.update(face_found=err.reason != "no-face", usable=False, reason=err.reason)
                faces = pipe.detect(bgr)
                if faces:  # a refused face still has a skin tone: refusals are counted per group too
                    ita = ita_degrees(skin_lab(bgr, max(faces, key=lambda f: f.area)))
                    row.update(ita_deg=round(ita, 1), group=ita_group(ita))
                rows.append(row)
                continue
            t0 = time.perf_counter()
            result = pipe.headshot(bgr, style="studio-grey", fmt="portrait", analysis=analysis)
            elapsed = (time.perf_counter() - t0) * 1000
            floor_t0 = time.perf_counter()
            _ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
            cv2.imdecode(buf, cv2.IMREAD_COLOR)
            floor = (time.perf_counter() - floor_t0) * 1000
            lab_in = skin_lab(bgr, analysis.face)
            same_frame, _valid = warp_to_cell(bgr, result.transform, result.spec.cell)
            inner_in = inner_face_lab(same_frame, result.face)
            inner_out = inner_face_lab(result.image, result.face)
            lab_out = skin_lab(result.image, result.face)
            ita = ita_degrees(lab_in)
            row.update(
                face_found=True, usable=True, ita_deg=round(ita, 1), group=ita_group(ita),
                skin_L_in=round(float(lab_in[0]), 2), skin_L_out=round(float(lab_out[0]), 2),
                delta_L=round(float(lab_out[0] - lab_in[0]), 2),
                retouch_delta_e2000=round(result.retouch_delta_e or 0.0, 3),
                inner_L_in=round(inner_in[0], 2), inner_L_out=round(inner_out[0], 2),
                inner_delta_L=round(inner_out[0] - inner_in[0], 2),
                inner_p90_delta_L=round(inner_out[1] - inner_in[1], 2),
                exposure_corrected=result.light is not None and result.light.exposure != 1.0,
                time_ratio_to_jpeg_floor=round(elapsed / max(floor, 1e-6), 1),
                gaze=None if result.gaze is None else round(result.gaze, 3),
                told_to_look_at_the_lens=looks_away(result.gaze),
            )
            rows.append(row)
    usable = [r for r in rows if r.get("usable")]
    groups: dict[str, list[float]] = {}
    for r in usable:
        groups.setdefault(str(r["group"]), []).append(float(r["delta_L"]))  # type: ignore[arg-type]
    group_means = {g: round(statistics.fmean(v), 2) for g, v in groups.items()}
    deviation = {}
    for g, m in group_means.items():
        others = [v for h, v in group_means.items() if h != g]
        deviation[g] = round(abs(m - statistics.fmean(others)), 2) if others else 0.0
    refusals: dict[str, list[bool]] = {}
    for r in rows:
        if "group" in r:
            refusals.setdefault(str(r["group"]), []).append(not r.get("usable"))
    refusal_rate = {g: round(sum(v) / len(v), 2) for g, v in sorted(refusals.items())}
    # Every shared portrait looks into the lens: a "look at the lens" note on one is a false one.
    gaze_notes: dict[str, list[bool]] = {}
    for r in usable:
        gaze_notes.setdefault(str(r["group"]), []).append(bool(r["told_to_look_at_the_lens"]))
    judged = [r for r in usable if not r.get("exposure_corrected")]
    worst_inner = max((abs(float(r["inner_delta_L"])) for r in judged), default=0.0)  # type: ignore[arg-type]
    worst_de = max((float(r["retouch_delta_e2000"]) for r in usable), default=0.0)  # type: ignore[arg-type]
    summary = {
        "portraits": len(rows),
        "faces_found": sum(1 for r in rows if r.get("face_found")),
        "usable": len(usable),
        "max_retouch_delta_e2000": worst_de,
        "group_mean_delta_L": group_means,
        "group_count": {g: len(v) for g, v in groups.items()},
        "group_deviation_from_others": deviation,
        "spread_of_group_means": (
            round(max(group_means.values()) - min(group_means.values()), 2) if group_means else 0
        ),
        "refusal_rate_by_group": refusal_rate,
        "refusal_count_by_group": {g: f"{sum(v)}/{len(v)}" for g, v in sorted(refusals.items())},
        "look_at_the_lens_notes_by_group": {g: f"{sum(v)}/{len(v)}" for g, v in sorted(gaze_notes.items())},
        "max_abs_inner_face_delta_L": round(worst_inner, 2),
        "mean_inner_face_delta_L": round(statistics.fmean(float(r["inner_delta_L"]) for r in judged), 2)  # type: ignore[arg-type]
        if judged else 0.0,
        "mean_inner_face_p90_delta_L": round(statistics.fmean(float(r["inner_p90_delta_L"]) for r in judged), 2)  # type: ignore[arg-type]
        if judged else 0.0,
        "targets_met": {
            "inner_face_abs_mean_delta_L_le_0_5": worst_inner <= 0.5,
            "retouch_delta_e2000_le_2": worst_de <= 2.0,
            "group_mean_delta_L_within_2_of_others": all(v <= 2.0 for v in deviation.values()),
        },
    }
    if args.table:
        print(f"{'portrait':48} {'group':13} {'ITA°':>6} {'ΔE ret':>7} {'ΔL*':>6} {'inner':>6} {'p90':>6}")
        for r in rows:
            if r.get("usable"):
                de, dl = r["retouch_delta_e2000"], r["delta_L"]
                il, ip = r["inner_delta_L"], r["inner_p90_delta_L"]
                print(f"{r['portrait']:48} {r['group']:13} {r['ita_deg']:>6} {de:>7} {dl:>6} {il:>6} {ip:>6}")
            else:
                print(f"{r['portrait']:48} {'-':13} {'':>6} {'':>7} {'':>6}  ({r['reason']})")
        print()
        for g, m in sorted(group_means.items()):
            print(f"group {g:13} n={len(groups[g]):2}  mean ΔL* {m:+.2f}  off the others by {deviation[g]:.2f}"
                  f"  refused {refusal_rate.get(g, 0.0):.0%}")
        print(f"max retouch ΔE2000 {worst_de:.3f}; targets met: {summary['targets_met']}")
    else:
        emit({"benchmark": "fairness", "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()
