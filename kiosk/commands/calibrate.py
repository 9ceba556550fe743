"""`kiosk calibrate color | apply | lights | lens | show`: set-up-time calibration of camera and lights."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kiosk.camera.base import camera_id_for
from kiosk.commands import Subparsers

log = logging.getLogger(__name__)


def register(sub: Subparsers) -> None:
    """Add the `calibrate` command group."""
    p = sub.add_parser("calibrate", help="calibrate camera colour, lens and lights; apply the profile")
    csub = p.add_subparsers(dest="calibrate_cmd", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--profile", help="profile file (default: config calibration.profile or the data folder)"
        )

    c = csub.add_parser(
        "color", aliases=["colour"], help="fit colour correction from a ColorChecker 24 capture"
    )
    c.add_argument("image", nargs="?", help="photo of the ColorChecker 24 taken with the booth camera")
    c.add_argument(
        "--camera", action="store_true", help="capture the chart with the configured camera instead"
    )
    c.add_argument("--camera-id", help="id of the camera that took IMAGE (default: the configured camera)")
    c.add_argument(
        "--model", choices=["linear", "root-polynomial"], help="correction model (default: config)"
    )
    c.add_argument("--dry-run", action="store_true", help="fit and report, but do not write the profile")
    common(c)
    c.set_defaults(func=_color)

    a = csub.add_parser("apply", help="apply the calibration profile to an image")
    a.add_argument("image", help="the image to correct")
    a.add_argument("-o", "--output", required=True, help="where to write the result (.jpg or .png)")
    common(a)
    a.set_defaults(func=_apply)

    li = csub.add_parser(
        "lights", help="converge the key, fill and backdrop lights on the configured targets"
    )
    li.add_argument("--port", help="bridge port URL (default: config lights.port_url; sim:// = simulator)")
    li.add_argument(
        "--synthetic",
        action="store_true",
        help="meter a simulated booth whose brightness follows the lights the bridge reports (demo/test)",
    )
    li.add_argument("--camera-id", help="id to record for the camera (default: the configured camera)")
    li.add_argument("--ready-timeout", type=float, default=5.0, help="wait for the bridge handshake, s")
    li.add_argument(
        "--dry-run", action="store_true", help="converge and report, but do not write the profile"
    )
    common(li)
    li.set_defaults(func=_lights)

    le = csub.add_parser("lens", help="fit lens intrinsics and distortion from chessboard photos")
    le.add_argument("images", nargs="+", help="at least 5 photos of a chessboard at varied angles")
    le.add_argument("--board", default="9x6", help="inner corners per row x per column (default 9x6)")
    le.add_argument("--square-mm", type=float, default=25.0, help="side of one square, mm (default 25)")
    le.add_argument(
        "--camera-id", help="id of the camera that took the photos (default: the configured camera)"
    )
    le.add_argument("--dry-run", action="store_true", help="fit and report, but do not write the profile")
    common(le)
    le.set_defaults(func=_lens)

    s = csub.add_parser("show", help="print the current profile and any warnings")
    common(s)
    s.set_defaults(func=_show)


@contextmanager
def _translated() -> Iterator[None]:
    """Turn calibration errors into the kiosk's (exit 2 for bad input, 1 otherwise)."""
    from calibration.errors import CalibrationError
    from kiosk.errors import InputError, KioskError

    try:
        yield
    except CalibrationError as err:
        if err.exit_code == 2:
            raise InputError(str(err)) from err
        raise KioskError(str(err)) from err


def _out(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2))  # noqa: T201  # reason: CLI output


def _warn(message: str) -> None:
    print(f"kiosk: warning: {message}", file=sys.stderr)  # noqa: T201  # reason: operator warning


def _setup(args: argparse.Namespace) -> tuple[Any, Path]:
    from kiosk.config import load_config

    cfg = load_config(args.config)
    path = Path(args.profile) if args.profile else cfg.calibration.profile_path(cfg.data_dir)
    return cfg, path


def _grab_still(cfg: Any, discard: int = 5) -> Any:
    """One frame from the configured camera, after letting its exposure settle for a few frames."""
    from kiosk.camera.base import create_camera

    camera = create_camera(cfg.camera)
    camera.open()
    try:
        for _ in range(discard):
            camera.read()
        still = camera.capture_still()
        return still if still is not None else camera.read()
    finally:
        camera.close()


def _color(args: argparse.Namespace) -> int:
    from calibration.colour import calibrate_color
    from calibration.profile import ColorSection, update_profile, utc_now
    from kiosk.errors import InputError
    from kiosk.pipeline.imageio import load_image

    cfg, path = _setup(args)
    if args.image and args.camera:
        raise InputError("give an IMAGE or --camera, not both")
    if args.image:
        bgr = load_image(
            args.image, max_megapixels=cfg.pipeline.max_input_megapixels, work_megapixels=None
        ).bgr
    elif args.camera:
        bgr = _grab_still(cfg)
    else:
        raise InputError("give an IMAGE of the ColorChecker 24, or --camera to capture one now")
    camera_id = args.camera_id or camera_id_for(cfg.camera)
    with _translated():
        cal = calibrate_color(
            bgr, model=args.model or cfg.calibration.color_model, skin_weight=cfg.calibration.skin_weight
        )
    result: dict[str, Any] = {
        "mean_delta_e2000": round(cal.after.mean, 3),
        "max_delta_e2000": round(cal.after.max, 3),
        "before": {
            "mean_delta_e2000": round(cal.before.mean, 3),
            "max_delta_e2000": round(cal.before.max, 3),
        },
        "after": cal.after.as_dict(),
        "model": cal.fit.model,
        "white_balance": [round(float(v), 5) for v in cal.fit.wb],
        "clipped_patches": cal.clipped_patches,
        "camera_id": camera_id,
        "profile": None,
        "notes": [],
    }
    if cal.clipped_patches:
        _warn(
            f"{len(cal.clipped_patches)} patch(es) clipped ({', '.join(cal.clipped_patches)}): "
            "lower the exposure"
        )
    if cal.after.mean > 5.0:
        _out(result)
        raise InputError(
            f"the fit leaves a mean ΔE2000 of {cal.after.mean:.1f}: light the chart evenly, avoid glare and "
            "clipping, and try again (profile not written)"
        )
    if not args.dry_run:
        section = ColorSection(
            calibrated_at=utc_now(),
            model=cal.fit.model,
            wb=(float(cal.fit.wb[0]), float(cal.fit.wb[1]), float(cal.fit.wb[2])),
            ccm=tuple(tuple(float(v) for v in row) for row in cal.fit.ccm),  # type: ignore[arg-type]  # reason: 3 rows by construction
            mean_delta_e2000=cal.after.mean,
            max_delta_e2000=cal.after.max,
        )
        with _translated():
            _, notes = update_profile(path, camera_id, color=section)
        result["profile"] = str(path)
        result["notes"] = notes
    _out(result)
    return 0


def _apply(args: argparse.Namespace) -> int:
    import cv2

    from calibration.profile import load_profile
    from kiosk.errors import InputError
    from kiosk.pipeline.imageio import encode_jpeg, load_image
    from models.store import atomic_write_bytes

    cfg, path = _setup(args)
    out_path = Path(args.output)
    suffix = out_path.suffix.lower()
    if suffix not in (".jpg", ".jpeg", ".png"):
        raise InputError(f"{args.output}: the output must be a .jpg or .png file")
    with _translated():
        profile = load_profile(path)
    for message in profile.warnings(max_age_days=cfg.calibration.max_age_days):
        _warn(message)
    photo = load_image(args.image, max_megapixels=cfg.pipeline.max_input_megapixels, work_megapixels=None)
    corrected = profile.apply(photo.bgr)
    if suffix == ".png":
        ok, buf = cv2.imencode(".png", corrected)
        if not ok:
            raise InputError(f"{args.output}: cannot encode the image as PNG")
        data = buf.tobytes()
    else:
        data = encode_jpeg(
            corrected,
            cfg.pipeline.jpeg_quality,
            source_type="edited",
            description="Colour-calibrated by Headshot Kiosk",
        )
    try:
        atomic_write_bytes(out_path, data)
    except OSError as err:
        raise InputError(f"{args.output}: cannot write the image: {err.strerror or err}") from err
    applied = [name for name in ("color", "lens") if getattr(profile, name) is not None]
    _out({"output": str(out_path), "profile": str(path), "applied": applied, "camera_id": profile.camera_id})
    return 0


def _lights(args: argparse.Namespace) -> int:
    from calibration.lights import BridgeLights, LightTargets, converge, explain_failure
    from calibration.profile import LightsSection, active_profile, update_profile, utc_now
    from firmware_bridge.client import BridgeClient
    from kiosk.errors import InputError

    cfg, path = _setup(args)
    cal = cfg.calibration
    port = args.port or cfg.lights.port_url
    if not port:
        raise InputError(
            "no bridge port: set [lights] port_url in kiosk.toml or pass --port (sim:// = simulator)"
        )
    if args.synthetic and not (args.profile or args.dry_run):
        raise InputError("--synthetic never writes the booth's profile: add --dry-run or --profile FILE")
    targets = LightTargets(
        exposure=cal.target_exposure,
        key_fill_ratio=cal.key_fill_ratio,
        backdrop_ratio=cal.backdrop_ratio,
        tolerance=cal.tolerance,
        max_iterations=cal.max_iterations,
    )
    start = None
    with _translated():
        previous, _ = active_profile(path)
    if previous is not None and previous.lights is not None:
        start = previous.lights.levels
    camera_id = args.camera_id or ("synthetic-booth" if args.synthetic else camera_id_for(cfg.camera))
    with BridgeClient(port) as client, _translated():
        client.wait_ready(timeout_s=args.ready_timeout)
        lights = BridgeLights(client, cal.channels.as_dict(), max_ms=cal.light_max_ms)
        grab, meter, close, settle_s = _light_rig(args, cfg, lights)
        try:
            result = converge(lights, grab, meter, targets, start=start, settle_s=settle_s)
        finally:
            close()
    summary = result.as_dict()
    summary["targets"] = {
        "exposure": cal.target_exposure,
        "key_fill_ratio": cal.key_fill_ratio,
        "backdrop_ratio": cal.backdrop_ratio,
    }
    summary["profile"] = None
    if not result.converged:
        _out(summary)
        raise InputError(explain_failure(result, targets) + " (profile not written)")
    if not args.dry_run:
        section = LightsSection(
            calibrated_at=utc_now(),
            levels=result.levels,
            exposure=result.exposure,
            key_fill_ratio=result.key_fill_ratio,
            backdrop_ratio=result.backdrop_ratio,
            iterations=result.iterations,
            converged=result.converged,
        )
        with _translated():
            update_profile(path, camera_id, lights=section)
        summary["profile"] = str(path)
    _out(summary)
    return 0


def _light_rig(
    args: argparse.Namespace, cfg: Any, lights: Any
) -> tuple[Callable[[], Any], Any, Callable[[], None], float]:
    """(grab, meter, close, settle_s): the simulated booth, or the configured camera + MediaPipe meter."""
    from calibration.lights import FaceMeter, RegionMeter

    if args.synthetic:
        from calibration.synthetic import RelitCamera, studio_scene

        albedo, person, key_weight, regions = studio_scene()
        booth = RelitCamera(albedo, person, key_weight, lights.read_levels)
        return booth.grab, RegionMeter(regions["face"], regions["backdrop"]), lambda: None, 0.0

    from kiosk.camera.base import create_camera
    from models.store import ModelStore
    from models.vision import FaceDetector, SelfieSegmenter

    store = ModelStore(cfg.models_dir)
    detector = FaceDetector(store.path("face_detector_short"))
    segmenter = SelfieSegmenter(store.path("selfie_segmenter"))
    camera = create_camera(cfg.camera)
    camera.open()

    def grab() -> Any:
        # Frames already buffered in the driver were exposed under the old levels: drop them.
        for _ in range(3):
            camera.read()
        return camera.read()

    def close() -> None:
        camera.close()
        detector.close()
        segmenter.close()

    return grab, FaceMeter(detector, segmenter), close, cfg.calibration.settle_ms / 1000.0


def _parse_board(text: str) -> tuple[int, int]:
    from kiosk.errors import InputError

    try:
        cols, rows = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise InputError(f"--board {text!r}: write inner corners as COLSxROWS, e.g. 9x6") from err
    if not (2 <= cols <= 40 and 2 <= rows <= 40):
        raise InputError(f"--board {text!r}: each side needs 2..40 inner corners")
    return cols, rows


def _lens(args: argparse.Namespace) -> int:
    import cv2

    from calibration.lens import calibrate_lens
    from calibration.profile import LensSection, update_profile, utc_now
    from kiosk.errors import InputError
    from kiosk.pipeline.imageio import load_image

    cfg, path = _setup(args)
    board = _parse_board(args.board)
    if not 1.0 <= args.square_mm <= 500.0:
        raise InputError("--square-mm must be between 1 and 500")
    images = []
    for name in args.images:
        bgr = load_image(name, max_megapixels=cfg.pipeline.max_input_megapixels, work_megapixels=None).bgr
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    with _translated():
        fit = calibrate_lens(images, board, args.square_mm)
    k = fit.camera_matrix
    result: dict[str, Any] = {
        "fx": round(float(k[0, 0]), 3),
        "fy": round(float(k[1, 1]), 3),
        "cx": round(float(k[0, 2]), 3),
        "cy": round(float(k[1, 2]), 3),
        "distortion": [round(float(v), 6) for v in fit.distortion],
        "rms_px": round(fit.rms_px, 4),
        "image_size": list(fit.image_size),
        "views_used": fit.views_used,
        "views_given": len(images),
        "profile": None,
    }
    if fit.rms_px > 1.0:
        _warn(
            f"reprojection error {fit.rms_px:.2f} px is high: use sharper, evenly lit photos of a flat board"
        )
    if not args.dry_run:
        row = [tuple(float(v) for v in r) for r in k]
        row[2] = (0.0, 0.0, 1.0)
        row[0] = (row[0][0], 0.0, row[0][2])
        row[1] = (0.0, row[1][1], row[1][2])
        section = LensSection(
            calibrated_at=utc_now(),
            camera_matrix=(row[0], row[1], row[2]),  # type: ignore[arg-type]  # reason: 3 floats per row by construction
            distortion=tuple(float(v) for v in fit.distortion),  # type: ignore[arg-type]  # reason: 5 terms by construction
            image_size=fit.image_size,
            rms_px=fit.rms_px,
        )
        with _translated():
            update_profile(path, args.camera_id or camera_id_for(cfg.camera), lens=section)
        result["profile"] = str(path)
    _out(result)
    return 0


def _show(args: argparse.Namespace) -> int:
    from calibration.profile import load_profile

    cfg, path = _setup(args)
    with _translated():
        profile = load_profile(path)
    _out(
        {
            "profile": str(path),
            "warnings": profile.warnings(camera_id_for(cfg.camera), cfg.calibration.max_age_days),
            **profile.model_dump(mode="json"),
        }
    )
    return 0
