"""`kiosk config check | sample`: validate the configuration, print the documented sample."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the `config` command group."""
    p = sub.add_parser("config", help="check the configuration or print a documented sample")
    csub = p.add_subparsers(dest="config_cmd", metavar="ACTION", required=True)
    c = csub.add_parser("check", help="validate kiosk.toml; exit 2 naming the first bad key")
    c.add_argument("path", nargs="?", help="config file (default: --config, $KIOSK_CONFIG, data folder)")
    c.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from kiosk.config import load_config

    cfg = load_config(args.path or args.config)
    print(f"config ok (data folder: {cfg.data_dir})")  # noqa: T201  # reason: CLI output
    return 0
