"""UI benchmark (JSON): live preview rate and worst frame time while framing analysis runs, and one guest
session by touch: time to the QR code and taps to the QR code, in a real Kivy window (Xvfb if no display).

Floors, measured in the same run:
- preview: a plain loop that blits the same camera's newest frame into a texture (no framing analysis, no
  overlay, no session logic). Ratio = kiosk preview fps / floor fps (1.0 = the kiosk costs the preview nothing).
- time to QR: what any session must wait for: the configured stillness and countdown, the tap guard of each
  tapped screen, and the studio pipeline on the same capture called directly (no UI, no session).
  Ratio = time to QR / that floor (1.0 = the session adds nothing to the unavoidable waits).
The guest taps as soon as each screen takes touches (after its tap guard).

    .venv/bin/python bench/ui.py [--seconds 8] [--size 1080x1920]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def start_xvfb() -> subprocess.Popen[bytes] | None:
    """Start Xvfb on a free display when none is set."""
    if os.environ.get("DISPLAY"):
        return None
    exe = shutil.which("Xvfb")
    if exe is None:
        raise SystemExit("bench/ui.py: no $DISPLAY and no Xvfb (apt-get install xvfb)")
    n = next(n for n in range(200, 300) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    proc = subprocess.Popen([exe, f":{n}", "-screen", "0", "1920x1920x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not Path(f"/tmp/.X11-unix/X{n}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.environ["DISPLAY"] = f":{n}"
    return proc


def frame_stats(intervals: list[float]) -> dict[str, float]:
    """Worst and p99 frame time in ms."""
    ms = sorted(i * 1000 for i in intervals[1:]) or [0.0]
    return {"worst_frame_ms": round(ms[-1], 1), "p99_frame_ms": round(ms[int(0.99 * (len(ms) - 1))], 1),
            "mean_frame_ms": round(statistics.fmean(ms), 1)}


def floor_loop(cam_thread: Any, seconds: float) -> dict[str, float]:
    """A plain blit loop: newest camera frame → texture → rectangle, nothing else."""
    from kivy.base import EventLoop
    from kivy.core.window import Window
    from kivy.graphics import Rectangle
    from kivy.graphics.texture import Texture
    from kivy.uix.widget import Widget

    w = Widget(size=Window.size)
    tex = None
    with w.canvas:
        rect = Rectangle(pos=(0, 0), size=Window.size)
    Window.add_widget(w)
    last_seq, blits, intervals = -1, 0, []
    t_prev = time.perf_counter()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        f = cam_thread.latest()
        if f is not None and f.seq != last_seq:
            h, wd = f.image.shape[:2]
            if tex is None:
                tex = Texture.create(size=(wd, h), colorfmt="bgr")
                tex.flip_vertical()
                rect.texture = tex
            tex.blit_buffer(f.image.reshape(-1), colorfmt="bgr", bufferfmt="ubyte")
            w.canvas.ask_update()
            last_seq, blits = f.seq, blits + 1
        EventLoop.idle()
        now = time.perf_counter()
        intervals.append(now - t_prev)
        t_prev = now
    Window.remove_widget(w)
    return {"fps": round(blits / seconds, 1), **frame_stats(intervals)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=8.0, help="measuring time per phase, s")
    ap.add_argument("--size", default="1080x1920", help="window size WIDTHxHEIGHT")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    xvfb = start_xvfb()
    try:
        from kiosk.ui.boot import prepare_kivy

        prepare_kivy(width, height)
        from kivy.base import EventLoop
        from kivy.core.window import Window
        from kivy.graphics.opengl import GL_RENDERER, glGetString
        from kivy.tests.common import UnitTestTouch

        from kiosk.app.assemble import Overrides, assemble
        from kiosk.camera.base import CameraThread
        from kiosk.camera.config import VirtualCameraConfig
        from kiosk.camera.virtual import VirtualCamera
        from kiosk.config import KioskConfig, default_data_dir
        from kiosk.delivery.ports import NoPrinter
        from kiosk.i18n import Texts
        from kiosk.lights import NoopLights
        from kiosk.session.flow import State
        from kiosk.ui.app import KioskApp
        from kiosk.ui.widgets import Btn

        cam_cfg = VirtualCameraConfig(width=960, height=720, fps=30)
        # Floor: the same virtual camera and camera thread, a bare blit loop.
        EventLoop.ensure_window()
        floor_cam = CameraThread(VirtualCamera(cam_cfg))
        floor_cam.start()
        floor_cam.wait_frame(0, 10)
        floor = floor_loop(floor_cam, args.seconds)
        floor_cam.stop()

        data = Path(tempfile.mkdtemp(prefix="bench-ui-"))
        (data / "models").symlink_to(default_data_dir() / "models")
        cfg = KioskConfig(data_dir=data)
        parts = assemble(cfg, Overrides(camera=VirtualCamera(cam_cfg), lights=NoopLights(), printer=NoPrinter()))
        c = parts.controller
        app = KioskApp(c, Texts(list(cfg.ui.languages)), transition_s=0)
        app._run_prepare()
        sm = app.sm
        assert sm is not None

        def pump_until(cond: Any, timeout_s: float) -> bool:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                EventLoop.idle()
                if cond():
                    return True
            return False

        taps = [0]

        def ready() -> bool:
            return not sm.transition.is_active and not app.guarded()

        def tap(action: str, arg: str | None = None) -> None:
            pump_until(ready, 5)
            for b in app.current_screen().walk():
                if isinstance(b, Btn) and b.action == action and (arg is None or b.arg == arg):
                    taps[0] += 1
                    t = UnitTestTouch(*b.to_window(*b.center))
                    t.touch_down()
                    EventLoop.idle()
                    t.touch_up()
                    EventLoop.idle()
                    return
            raise RuntimeError(f"no button {action} on {sm.current}")

        def tap_anywhere() -> None:
            pump_until(ready, 5)
            taps[0] += 1
            t = UnitTestTouch(Window.width / 2, Window.height / 2)
            t.touch_down()
            EventLoop.idle()
            t.touch_up()
            EventLoop.idle()

        pump_until(lambda: c.camera.connected, 20)
        # Warm-up session: models load on first use (detector on the framing thread, pipeline on the
        # processing thread); then the preview measurement with framing analysis running.
        c.tap("start")
        c.tap("language", "en")
        c.tap("agree")
        pump_until(lambda: c.framing_result is not None, 30)
        # Hold the live screen (no auto-capture) to measure the preview while analysis runs.
        c.framing.targets = type(c.framing.targets)(stillness_s=1e9)
        c.framing.resume()
        pump_until(lambda: c.framing_result is not None, 10)
        live = app.current_screen()
        blits0, analyses0 = live.preview.blits, c.framing.analyses
        app.frame_times.clear()
        app.record_frames = True
        t0 = time.monotonic()
        pump_until(lambda: False, args.seconds)
        dt = time.monotonic() - t0
        app.record_frames = False
        preview_fps = (live.preview.blits - blits0) / dt
        analyses_per_s = (c.framing.analyses - analyses0) / dt
        analysis_ms = c.framing_result.analysis_ms if c.framing_result else float("nan")
        preview = {"fps": round(preview_fps, 1), **frame_stats(app.frame_times)}
        c.tap("cancel")
        pump_until(lambda: c.state is State.ATTRACT, 10)

        # Session time, start tap to processing done, the guest tapping as soon as each screen shows.
        c.framing.targets = type(c.framing.targets)(stillness_s=cfg.ui.stillness_s)
        marks: dict[str, float] = {}
        kept: dict[str, Any] = {}

        def on_change(_old: State, new: State, _reason: str) -> None:
            marks.setdefault(new.value, time.monotonic())
            if new is State.DELIVERY and c.session is not None:
                kept["capture"] = c.session.capture  # for the processing floor below

        c.flow.listen(on_change)
        pump_until(ready, 5)
        t_start = time.monotonic()
        tap_anywhere()
        pump_until(lambda: c.state is State.LANGUAGE, 5)
        tap("language", "en")
        pump_until(lambda: c.state is State.CONSENT, 5)
        tap("agree")
        pump_until(lambda: c.state is State.REVIEW, 60)
        tap("approve")
        pump_until(lambda: c.state is State.STYLE, 5)
        tap("style", cfg.ui.styles[0])
        ok = pump_until(lambda: c.state is State.DELIVERY, 120)
        t_done = time.monotonic()
        qr_shown = pump_until(lambda: sm.current == "delivery" and bool(c.download_url)
                              and app.current_screen().qr.opacity == 1.0, 10)
        t_qr = time.monotonic()
        taps_to_qr = taps[0]
        breakdown = {k: round(v - t_start, 2) for k, v in sorted(marks.items(), key=lambda kv: kv[1])}
        tap("done")  # "Did you get your photo?" (after the QR: not counted)
        tap("confirm_done")
        pump_until(lambda: c.state is State.ATTRACT, 30)
        # Floor: the same capture through the studio pipeline directly, on the same processor (models loaded).
        proc = c.worker.processor
        out_dir = Path(tempfile.mkdtemp(prefix="bench-ui-floor-"))

        def write(name: str, data: bytes) -> Path:
            (out_dir / name).write_bytes(data)
            return out_dir / name

        t0 = time.monotonic()
        proc.process(kept["capture"], cfg.ui.styles[0], list(cfg.ui.formats), write, lambda _f, _s: None)
        processing_s = time.monotonic() - t0
        shutil.rmtree(out_dir, ignore_errors=True)
        waits_s = cfg.ui.stillness_s + cfg.ui.countdown_s + taps_to_qr * cfg.ui.tap_guard_s
        floor_qr_s = waits_s + processing_s
        renderer = glGetString(GL_RENDERER)
        app.stop()
        EventLoop.idle()
        parts.close()
        shutil.rmtree(data, ignore_errors=True)
        result = {
            "benchmark": "ui",
            "window": f"{width}x{height}",
            "renderer": renderer.decode() if isinstance(renderer, bytes) else str(renderer),
            "camera_fps": cam_cfg.fps,
            "camera_frame": f"{cam_cfg.width}x{cam_cfg.height}",
            "preview_fps_with_framing": preview["fps"],
            "preview_worst_frame_ms": preview["worst_frame_ms"],
            "preview_p99_frame_ms": preview["p99_frame_ms"],
            "preview_mean_frame_ms": preview["mean_frame_ms"],
            "framing_analyses_per_s": round(analyses_per_s, 1),
            "framing_analysis_ms": round(analysis_ms, 1),
            "floor_blit_fps": floor["fps"],
            "floor_worst_frame_ms": floor["worst_frame_ms"],
            "ratio_preview_fps_vs_floor": round(preview["fps"] / floor["fps"], 3) if floor["fps"] else None,
            "session_start_to_processed_s": round(t_done - t_start, 2) if ok else None,
            "time_to_qr_s": round(t_qr - t_start, 2) if qr_shown else None,
            "taps_to_qr": taps_to_qr,
            "floor_time_to_qr_s": round(floor_qr_s, 2),
            "floor_parts_s": {"waits": round(waits_s, 2), "studio_processing": round(processing_s, 2)},
            "ratio_time_to_qr_vs_floor": round((t_qr - t_start) / floor_qr_s, 3) if qr_shown else None,
            "session_config": {"stillness_s": cfg.ui.stillness_s, "countdown_s": cfg.ui.countdown_s,
                               "tap_guard_s": cfg.ui.tap_guard_s, "formats": list(cfg.ui.formats)},
            "session_marks_s": breakdown,
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result, indent=2))
        return 0 if ok and qr_shown else 1
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
