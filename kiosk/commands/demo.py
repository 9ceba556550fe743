"""`kiosk demo`: the embedded default — one complete guest session with no hardware."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kiosk.commands import Subparsers


def register(sub: Subparsers) -> None:
    """Add the `demo` command."""
    p = sub.add_parser("demo", help="run one guest session on the bundled sample portrait (no hardware)")
    p.add_argument("--out", type=Path, help="output folder (default: out/demo-<time>)")
    p.add_argument(
        "--headless", action="store_true", help="no window even when a display is present (simulated taps)"
    )
    p.add_argument("--size", help="window size WIDTHxHEIGHT (default: from [ui] in the config)")
    p.add_argument("--mode", choices=("hr-onboarding", "event", "walk-in"),
                   help="with --headless: one session in this station mode (hr-onboarding: typed id, export to a "
                   "folder, badge scan; event: opted-in address, e-mail to a local SMTP server; walk-in: the "
                   "showcase), each step in session.json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Open the kiosk UI on a display; else run the headless demo, printing each step as it ends."""
    from kiosk.config import load_config
    from kiosk.demo import default_out_dir, run_headless
    from kiosk.ui.runner import have_display

    cfg = load_config(args.config)
    out_dir = args.out or default_out_dir()
    if args.mode is not None:
        return _run_mode(cfg, out_dir, args)
    if have_display() and not args.headless:
        return _run_window(cfg, out_dir, args.size)
    _say("Headshot Kiosk demo: one guest session on the bundled sample portrait "
         "(no camera, no controller, no GPU needed)")
    report = run_headless(cfg, out_dir, on_step=_print_step)
    if report.notes:
        _say("notes: " + "; ".join(report.notes))
    done = sum(s.status == "ok" for s in report.steps)
    skipped = [s.title for s in report.steps if s.status == "skipped"]
    failed = [s.title for s in report.steps if s.status == "failed"]
    _say(f"demo finished in {report.timings_ms['total'] / 1000:.1f} s: {done} of {len(report.steps)} steps ok"
         + (f", skipped: {', '.join(skipped)}" if skipped else "")
         + (f", FAILED: {', '.join(failed)}" if failed else "")
         + f"; results in {report.out_dir.resolve()} (summary: session.json)")
    from kiosk.demo_modes import mode_lines

    for line in mode_lines():
        _say(line)
    return 0 if report.ok else 1


def _run_mode(cfg: Any, out_dir: Path, args: argparse.Namespace) -> int:
    """One headless session in a station mode, a line per step."""
    from kiosk.demo_modes import run_mode
    from kiosk.errors import InputError

    if not args.headless:
        raise InputError("--mode runs without a window: add --headless (the window demo follows the config's mode)")
    _say(f"Headshot Kiosk demo, station mode {args.mode}: one guest session by simulated touch")
    report = run_mode(cfg, out_dir, args.mode, on_step=_print_step)
    failed = [s.title for s in report.steps if s.status == "failed"]
    _say(f"mode {args.mode} finished in {report.timings_ms['total'] / 1000:.1f} s: "
         + (f"FAILED: {', '.join(failed)}" if failed else "every step ok")
         + f"; results in {report.out_dir.resolve()} (summary: session.json)")
    return 0 if report.ok else 1


def _say(line: str) -> None:
    print(line, flush=True)  # noqa: T201  # reason: CLI output


def _print_step(step: Any, number: int, total: int) -> None:
    """One labelled line per step (status, time, what it showed), then the files it wrote."""
    _say(f"[{number}/{total}] {step.title}: {step.status.upper()} ({step.seconds:.1f} s) - {step.detail}")
    for name in step.files:
        _say(f"      {name}")


def _run_window(cfg: Any, out_dir: Path, size: str | None) -> int:
    """Open the touchscreen UI in a window with the virtual camera and the simulated bridge."""
    from kiosk.app.assemble import demo_devices
    from kiosk.errors import KioskError
    from kiosk.ui.runner import run_app, window_size

    camera, lights = demo_devices(cfg)
    if cfg.ui.pin_hash is None:
        # The demo runs with no config: its operator menu gets a PIN of its own, shown here only.
        import secrets

        from kiosk.app.operator import hash_pin

        pin = "".join(secrets.choice("0123456789") for _ in range(8))
        while True:
            try:
                pin_hash = hash_pin(pin)
                break
            except KioskError:  # a run or a repeated digit, too easy: draw again
                pin = "".join(secrets.choice("0123456789") for _ in range(8))
        cfg = cfg.model_copy(update={"ui": cfg.ui.model_copy(update={"pin_hash": pin_hash})})
        print(f"kiosk demo window: operator PIN for this demo only: {pin}")  # noqa: T201  # reason: CLI output
    print(f"kiosk demo window: results of each session are copied to {out_dir.resolve()}")  # noqa: T201  # reason: CLI output
    return run_app(cfg, fullscreen=False, size=window_size(cfg, size), camera=camera, lights=lights,
                   results_to=out_dir)
