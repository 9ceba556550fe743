"""`kiosk config check | sample | pin`: validate the configuration, print the documented sample, hash a PIN."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kiosk.commands import Subparsers


def register(sub: Subparsers) -> None:
    """Add the `config` command group."""
    p = sub.add_parser("config", help="check the configuration or print a documented sample")
    csub = p.add_subparsers(dest="config_cmd", metavar="ACTION", required=True)
    c = csub.add_parser("check", help="validate kiosk.toml; exit 2 naming the first bad key")
    c.add_argument("path", nargs="?", help="config file (default: --config, $KIOSK_CONFIG, data folder)")
    c.set_defaults(func=_check)
    s = csub.add_parser("sample", help="print the documented sample config (every key, its default and meaning)")
    s.add_argument("--out", type=Path, help="write it to this file instead of stdout (refuses to overwrite)")
    s.set_defaults(func=_sample)
    pin = csub.add_parser(
        "pin", help="hash a new operator PIN (6 to 12 digits) for ui.pin_hash (reads the PIN from stdin)"
    )
    pin.set_defaults(func=_pin)


def _check(args: argparse.Namespace) -> int:
    from kiosk.config import load_config, require_operator_pin
    from kiosk.i18n import Texts

    cfg = load_config(args.path or args.config)
    texts = Texts(list(cfg.ui.languages), cfg.ui.i18n_dir)  # raises ConfigError naming a bad text file
    from kiosk.errors import ConfigError

    if cfg.ui.default_language not in cfg.ui.languages:
        raise ConfigError(
            f"ui.default_language '{cfg.ui.default_language}' is not in ui.languages {cfg.ui.languages}"
        )
    if cfg.camera.backend == "virtual" and cfg.camera.source is not None and not cfg.camera.source.is_file():
        raise ConfigError(f"camera.source {cfg.camera.source} does not exist (give an image or video file)")
    require_operator_pin(cfg)  # a kiosk whose operator menu anyone can open is not a valid installation
    warnings = []
    for lang in cfg.ui.languages:
        missing = texts.missing(lang)
        if missing:
            warnings.append(f"{lang}.json lacks {len(missing)} text(s), shown in English: {', '.join(missing[:5])}")
    if not cfg.lights.port_url:
        warnings.append("lights.port_url is empty: no lights or lens cue (fine without the controller board)")
    from kiosk.delivery.reach import phone_reach, wifi_uri
    from kiosk.status import Level

    reach = phone_reach(cfg.delivery.download)  # as the operator menu and `kiosk doctor` say it
    if reach.level in (Level.WARN, Level.FAIL):
        warnings.append(f"delivery.download: {reach.line}; fix: {reach.fix}")
    try:
        wifi_uri(cfg.delivery.download.wifi)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    from kiosk.app.modes import describe, mode_warnings, plan_for

    warnings += mode_warnings(cfg)  # what a mode needs and lacks is refused when the file is read
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)  # noqa: T201  # reason: CLI output
    print(  # noqa: T201  # reason: CLI output
        f"config ok (data folder: {cfg.data_dir}; camera: {cfg.camera.backend}; "
        f"languages: {', '.join(cfg.ui.languages)}; {describe(plan_for(cfg))})"
    )
    return 0


def _sample(args: argparse.Namespace) -> int:
    from kiosk.configdoc import sample_toml
    from kiosk.errors import InputError

    text = sample_toml()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    if args.out.exists():
        raise InputError(f"{args.out} exists; choose another path or delete it first")
    from models.store import atomic_write_bytes

    atomic_write_bytes(args.out, text.encode("utf-8"))
    print(f"sample config written to {args.out}")  # noqa: T201  # reason: CLI output
    return 0


def _pin(args: argparse.Namespace) -> int:
    import getpass

    from kiosk.app.operator import hash_pin

    pin = getpass.getpass("new operator PIN: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    print(f'pin_hash = "{hash_pin(pin)}"')  # noqa: T201  # reason: CLI output (paste under [ui])
    return 0
