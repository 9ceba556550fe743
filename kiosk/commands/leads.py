"""`kiosk leads`: the event's lead list (guests who ticked the opt-in), as CSV for the organiser.

Rows come from the session store (kind ``lead``, one per opt-in, written at delivery when
`station.lead_list` is on) and are deleted with all guest data after `retention.max_age_hours`, or by
`kiosk wipe`: export the list before then. Columns: time (UTC), e-mail, consent text version.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kiosk.commands import Subparsers


def register(sub: Subparsers) -> None:
    """Add the `leads` command."""
    p = sub.add_parser("leads", help="print (or --out) the event's lead list of opt-ins as CSV")
    p.add_argument("--out", type=Path, help="write the CSV to this file (owner-only; refuses to overwrite)")
    p.set_defaults(func=_leads)


def _leads(args: argparse.Namespace) -> int:
    from kiosk.app.outboxes import lead_csv, write_lead_csv
    from kiosk.config import load_config
    from kiosk.errors import InputError
    from kiosk.session.store import SessionStore

    cfg = load_config(args.config)
    if args.out is not None and args.out.exists():
        raise InputError(f"{args.out} exists; choose another path or delete it first")
    with SessionStore(cfg.data_dir, cfg.retention, recover=False) as store:
        if args.out is None:
            sys.stdout.write(lead_csv(store))
            return 0
        rows = write_lead_csv(store, args.out)
    print(f"{rows} lead(s) written to {args.out}", file=sys.stderr)  # noqa: T201  # reason: CLI output
    if not cfg.station.lead_list:
        print("note: station.lead_list is off: no new leads are kept", file=sys.stderr)  # noqa: T201  # reason: CLI output
    return 0
