"""`kiosk demo`: the embedded default — one complete guest session with no hardware."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the `demo` command."""
    p = sub.add_parser("demo", help="run one guest session on the bundled sample portrait (no hardware)")
    p.add_argument("--out", type=Path, help="output folder (default: out/demo-<time>)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the headless demo session and print where its results are."""
    from kiosk.config import load_config
    from kiosk.demo import default_out_dir, run_headless

    cfg = load_config(args.config)
    report = run_headless(cfg, args.out or default_out_dir())
    for path in report.files:
        print(f"  {path.name}")  # noqa: T201  # reason: CLI output
    if report.notes:
        print("notes: " + "; ".join(report.notes))  # noqa: T201  # reason: CLI output
    print(f"demo finished in {report.timings_ms['total'] / 1000:.1f} s; results in {report.out_dir.resolve()}")  # noqa: T201  # reason: CLI output
    return 0
