"""`kiosk demo`: the embedded default — one complete guest session with no hardware."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the `demo` command."""
    p = sub.add_parser("demo", help="run one guest session on the bundled sample portrait (no hardware)")
    p.add_argument("--out", type=Path, help="output folder (default: out/demo-<time>)")
    p.add_argument(
        "--headless", action="store_true", help="no window even when a display is present (simulated taps)"
    )
    p.add_argument("--size", help="window size WIDTHxHEIGHT (default: from [ui] in the config)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Open the kiosk UI on a display; else run the headless demo and the simulated-tap kiosk session."""
    from kiosk.config import load_config
    from kiosk.demo import default_out_dir, run_headless
    from kiosk.ui.runner import have_display

    cfg = load_config(args.config)
    out_dir = args.out or default_out_dir()
    if have_display() and not args.headless:
        return _run_window(cfg, out_dir, args.size)
    report = run_headless(cfg, out_dir)
    for path in report.files:
        print(f"  {path.name}")  # noqa: T201  # reason: CLI output
    if report.notes:
        print("notes: " + "; ".join(report.notes))  # noqa: T201  # reason: CLI output
    print(f"demo finished in {report.timings_ms['total'] / 1000:.1f} s; results in {report.out_dir.resolve()}")  # noqa: T201  # reason: CLI output
    return _run_kiosk_session(cfg, out_dir / "kiosk-session")


def _run_kiosk_session(cfg: Any, out_dir: Path) -> int:
    """The same session flow as the touchscreen (state machine, camera, framing, lights), simulated taps."""
    from kiosk.ui.headless import run_session
    from kiosk.ui.runner import demo_parts
    from kiosk.ui.wiring import build_controller

    camera, lights = demo_parts(cfg)
    controller = build_controller(cfg, camera=camera, lights=lights)
    controller.start()
    try:
        result = run_session(controller, out_dir)
    finally:
        controller.stop()
    print(  # noqa: T201  # reason: CLI output
        f"kiosk session (virtual camera, simulated bridge, simulated taps): start tap to processing done in "
        f"{result.start_to_processed_s:.1f} s; results in {out_dir.resolve()}"
    )
    return 0


def _run_window(cfg: Any, out_dir: Path, size: str | None) -> int:
    """Open the touchscreen UI in a window with the virtual camera and the simulated bridge."""
    from kiosk.ui.runner import demo_parts, run_app, window_size

    camera, lights = demo_parts(cfg)
    print(f"kiosk demo window: results of each session are copied to {out_dir.resolve()}")  # noqa: T201  # reason: CLI output
    return run_app(cfg, fullscreen=False, size=window_size(cfg, size), camera=camera, lights=lights,
                   results_to=out_dir)
