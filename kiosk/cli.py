"""The one command-line entry point, `kiosk`: parses arguments and translates errors to exit codes."""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from kiosk.errors import KioskError

# Each module exposes register(subparsers); handlers import their heavy dependencies lazily so that
# `kiosk --help` and argument errors stay instant.
COMMAND_MODULES: tuple[str, ...] = (
    "kiosk.commands.headshot",
    "kiosk.commands.matte",
    "kiosk.commands.generate",
    "kiosk.commands.demo",
    "kiosk.commands.run",
    "kiosk.commands.models",
    "kiosk.commands.config",
    "kiosk.commands.printing",
    "kiosk.commands.inspect",
    "kiosk.commands.share",
    "kiosk.commands.wipe",
    "kiosk.commands.leads",
    "kiosk.commands.calibrate",
    "kiosk.commands.bridge",
    "kiosk.commands.doctor",
)

log = logging.getLogger("kiosk")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="kiosk", description="Headshot Kiosk: on-site AI headshots.")
    parser.add_argument("--config", help="path to kiosk.toml (default: $KIOSK_CONFIG or the data folder)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _translate(err: BaseException) -> tuple[int, str]:
    """Map an exception from any floor of the house to (exit code, one-line message)."""
    if isinstance(err, KioskError):
        return err.exit_code, str(err)
    from models.errors import ModelError

    if isinstance(err, ModelError):
        return err.exit_code, str(err)
    from calibration.errors import CalibrationError

    if isinstance(err, CalibrationError):
        return err.exit_code, str(err)
    from firmware_bridge.errors import BridgeError

    if isinstance(err, BridgeError):
        return 2, str(err)
    return 1, f"internal error: {type(err).__name__}: {err} (run with -v for the traceback)"


def _logs_dir(config_path: str | None) -> Path:
    """The data folder's logs/, from the config when it loads, else the default data folder."""
    from kiosk.config import default_data_dir, load_config

    try:
        return load_config(config_path).data_dir / "logs"
    except KioskError:  # reason: a broken config is reported by the command itself, not here
        return default_data_dir() / "logs"


def run() -> int:
    """The `kiosk` console script and `python -m kiosk`: :func:`main` owning the process's stderr and signals.

    SIGTERM (`kill`, a supervisor's stop) unwinds like Ctrl-C, exit 143: every `with` block closes, so a
    private cupsd, the download server, the bridge link and temporary folders are cleaned up rather than
    orphaned. `kiosk run` replaces this with its own handler, which stops the app from the UI thread.
    """
    signal.signal(signal.SIGTERM, _terminate)
    return main(own_process=True)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """Run the CLI; return the process exit code (0 ok, 2 bad input, 1 internal failure).

    Args:
        argv: the arguments (default: sys.argv[1:]).
        own_process: this call is the whole process, so native libraries' fd-2 output may be diverted
            to logs/native.log (not when -v is given, nor when a caller embeds main()).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for `kiosk run` restarting itself in place
    if own_process and not args.verbose:
        from kiosk.nativelog import divert_native_stderr

        divert_native_stderr(_logs_dir(args.config))
    if own_process:
        # `kill -USR1 <pid>`: every thread's Python stack to stderr (the journal), for a kiosk that seems stuck.
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from kiosk.privacy import install_redaction

    install_redaction()  # no e-mail addresses, names or typed ids in any log line
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # reason: the supervised top level of the CLI
        code, message = _translate(err)
        if code == 1 or args.verbose:
            log.debug("command failed", exc_info=err)
        print(f"kiosk: {message}", file=sys.stderr)  # noqa: T201  # reason: the CLI's error line
        return code
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(run())
