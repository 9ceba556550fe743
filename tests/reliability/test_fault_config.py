"""A corrupt config: start-up commands refuse it with exit 2 and one line naming the key; a running kiosk
asked to reload keeps its last good config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kiosk.app.appliance import ConfigKeeper, HangupReload, Notifier
from kiosk.cli import build_parser
from kiosk.config import load_config
from kiosk.session.flow import State

BROKEN = {
    "unknown key": ("[ui]\ncountdown_secs = 3\n", "ui.countdown_secs"),
    "out of bounds": ("[ui]\ncountdown_s = 99\n", "ui.countdown_s"),
    "not TOML": ('[ui\ncountdown_s = "', "not valid TOML"),
}
# An operator PIN (482916): `kiosk run`, and so a reload that restarts it, refuses a config without one.
PIN = (
    'pin_hash = "pbkdf2_sha256$120000$00112233445566778899aabbccddeeff$'
    'e3711062fe6201e1f4ceb4183b7926a3bf1b7af61c13f881a935e4fd89fddf46"\n'
)


def _known(command: str) -> bool:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return command in sub.choices  # type: ignore[operator]  # reason: argparse's subparsers action


@pytest.mark.parametrize("command", ["demo", "run"])
@pytest.mark.parametrize("case", list(BROKEN))
def test_start_up_refuses_a_corrupt_config_naming_the_key(command: str, case: str, tmp_path: Path) -> None:
    if not _known(command):
        pytest.skip(f"`kiosk {command}` is not registered in this checkout yet")
    text, key = BROKEN[case]
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "kiosk", "--config", str(cfg), command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "KIOSK_DATA_DIR": str(tmp_path / "data"), "KIVY_NO_ARGS": "1"},
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and key in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_reload_keeps_the_last_good_config(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n[ui]\n{PIN}countdown_s = 3\n')
    keeper = ConfigKeeper(path, load_config(path))
    path.write_text(f'data_dir = "{tmp_path}"\n[ui]\n{PIN}countdown_s = 5\n')
    cfg, err = keeper.reload()
    assert err is None and cfg.ui.countdown_s == 5
    for text, key in BROKEN.values():
        path.write_text(text)
        cfg, err = keeper.reload()
        assert cfg.ui.countdown_s == 5, "the running kiosk keeps its last good config"
        assert err is not None and key in err and keeper.last_error == err
    path.write_text(f'data_dir = "{tmp_path}"\n[ui]\n{PIN}countdown_s = 2\n')
    cfg, err = keeper.reload()
    assert err is None and cfg.ui.countdown_s == 2 and keeper.last_error is None


class _Clock:
    """The UI clock's schedule_once, run by hand."""

    def __init__(self) -> None:
        self.due: list[Any] = []

    def schedule_once(self, fn: Any, _delay: float) -> None:
        self.due.append(fn)

    def tick(self) -> None:
        due, self.due = self.due, []
        for fn in due:
            fn(1.0)


def test_a_changed_config_waits_for_the_guest_then_restarts(tmp_path: Path) -> None:
    """A valid new file mid-session: nothing happens to the guest; on the attract screen the app stops
    for the restart, announcing RELOADING=1 instead of STOPPING=1."""
    path = tmp_path / "kiosk.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n[ui]\n{PIN}countdown_s = 3\n')
    sent: list[dict[str, Any]] = []
    notifier = Notifier(None)
    notifier.notify = lambda **f: sent.append(f) or True  # type: ignore[method-assign]  # reason: record datagrams
    appliance = SimpleNamespace(watchdog=SimpleNamespace(notifier=notifier), reloading=False)
    controller = SimpleNamespace(state=State.FRAMING)
    stops: list[str] = []
    clock = _Clock()
    reload = HangupReload(ConfigKeeper(path, load_config(path)), controller, appliance,  # type: ignore[arg-type]
                          lambda: stops.append("stop"), clock)
    reload.on_hangup()
    assert not stops and not reload.pending, "the same file: nothing to apply"
    path.write_text(f'data_dir = "{tmp_path}"\n[ui]\n{PIN}countdown_s = 5\n')
    reload.on_hangup()
    assert reload.pending and not stops and sent[-1]["status"].startswith("new config waiting")
    for _ in range(3):
        clock.tick()  # the guest is still framing, then reviewing
    controller.state = State.REVIEW
    clock.tick()
    assert not stops
    controller.state = State.ATTRACT
    clock.tick()
    assert stops == ["stop"] and reload.restart and appliance.reloading
    assert not clock.due, "no more polling after the restart is decided"
