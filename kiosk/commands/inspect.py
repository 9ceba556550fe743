"""`kiosk inspect FILE`: show what an image declares (AI disclosure, C2PA validity, colour profile, size)."""

from __future__ import annotations

import argparse
from pathlib import Path

from kiosk.commands import Subparsers


def register(sub: Subparsers) -> None:
    """Add the `inspect` command."""
    p = sub.add_parser(
        "inspect",
        help="show what an image declares: XMP source type, C2PA manifest and validity, ICC profile, size",
    )
    p.add_argument("file", metavar="FILE", help="image to inspect (JPEG, PNG, WebP, TIFF)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--trust",
        type=Path,
        metavar="PEM",
        help="CA certificates to trust for C2PA (default: delivery.provenance.c2pa_trust_anchors)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.delivery.provenance import inspect

    trust = args.trust
    if trust is None:
        trust = load_config(args.config).delivery.provenance.c2pa_trust_anchors
    report = inspect(args.file, trust)
    if args.json:
        import json

        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))  # noqa: T201  # reason: CLI output
    else:
        for line in report.lines():
            print(line)  # noqa: T201  # reason: CLI output
    return 0
