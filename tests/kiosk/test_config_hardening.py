"""Strict configuration and the operator PIN (issue 15): one base for every section, refusals with exit 2
and one line naming the key, a PIN lockout that survives restarts and doubles."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kiosk.app.operator import PinGate, hash_pin, pin_state_file
from kiosk.cli import main
from kiosk.config import KioskConfig, parse_config
from kiosk.config_base import ConfigSection
from kiosk.errors import ConfigError

PIN = hash_pin("482916", bytes(16))


def _sections(model: type) -> list[type]:
    import typing

    from pydantic import BaseModel

    found: list[type] = []
    for info in model.model_fields.values():  # type: ignore[attr-defined]
        for t in [info.annotation, *typing.get_args(info.annotation)]:
            for a in [t, *typing.get_args(t)]:
                if isinstance(a, type) and issubclass(a, BaseModel) and a not in found:
                    found.append(a)
                    found += [s for s in _sections(a) if s not in found]
    return found


def test_every_kiosk_section_uses_the_one_base() -> None:
    kiosk_sections = [s for s in _sections(KioskConfig) if s.__module__.startswith("kiosk.")]
    assert len(kiosk_sections) >= 12
    assert issubclass(KioskConfig, ConfigSection)
    assert [s.__name__ for s in kiosk_sections if not issubclass(s, ConfigSection)] == []


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[delivery.download]\nmax_downloads = true\n", "delivery.download.max_downloads: must be a whole number"),
        ('[delivery.download]\nport = "8080"\n', "delivery.download.port: must be a whole number"),
        ('[ui]\nfullscreen = "yes"\n', "ui.fullscreen: must be true or false"),
        ("[retention]\ndelete_on_delivery = 0\n", "retention.delete_on_delivery: must be true or false"),
        ('[ui]\npin_hash = "pbkdf2_sha256$1$00112233445566778899$' + "a" * 64 + '"\n', "iterations"),
        ('[ui]\npin_hash = "sha1$x"\n', "ui.pin_hash: is not a PIN hash"),
        ('[delivery.handoff]\nidentity_pattern = "^(a+)+$"\n', "exponential"),
        ('[delivery.mail]\nsender = "k@x.org\\r\\nBcc: all@x.org"\n', "delivery.mail.sender: must not contain control"),
        ('[delivery.mail]\nhost = "smtp.example.org"\nsecurity = "none"\n', "localhost"),
        ("a = " + "[" * 30 + "]" * 30 + "\n", "nest more than 16"),
    ],
)
def test_bad_values_are_refused_naming_the_key(toml: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        parse_config(tomllib.loads(toml), "kiosk.toml")
    assert needle in str(err.value), str(err.value)


def test_floats_take_integers_and_paths_take_strings(tmp_path: Path) -> None:
    cfg = parse_config(tomllib.loads(f'data_dir = "{tmp_path}"\n[delivery.mail]\ntimeout_s = 20\n'))
    assert cfg.delivery.mail.timeout_s == 20.0 and cfg.data_dir == tmp_path


def test_world_readable_secret_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("x")
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        parse_config({"delivery": {"mail": {"password_file": str(secret)}}})
    secret.chmod(0o600)
    assert parse_config({"delivery": {"mail": {"password_file": str(secret)}}}).delivery.mail.password_file == secret


def test_deep_nesting_in_a_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text("a = " + "[" * 50000 + "]" * 50000 + "\n")
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nest too deep" in err[0]


def test_check_refuses_the_old_default_pin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.app.config import DEFAULT_PIN_HASH

    path = tmp_path / "kiosk.toml"
    path.write_text(f'[ui]\npin_hash = "{DEFAULT_PIN_HASH}"\n')
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "old default 1234" in err[0] and "kiosk config pin" in err[0]
    path.write_text(f'[ui]\npin_hash = "{PIN}"\n')
    assert main(["config", "check", str(path)]) == 0


@pytest.mark.parametrize("pin", ["1234", "12345", "000000", "123456", "987654", "12ab56", "1234567890123"])
def test_weak_or_short_pins_are_refused(pin: str) -> None:
    from kiosk.errors import InputError

    with pytest.raises(InputError):
        hash_pin(pin)


def test_lockout_survives_a_restart_and_doubles(tmp_path: Path) -> None:
    mono, wall = [100.0], [1_800_000_000.0]
    state = pin_state_file(tmp_path)

    def gate() -> PinGate:
        return PinGate(PIN, 3, 60.0, lambda: mono[0], max_lockout_s=200.0, state_file=state, wall=lambda: wall[0])

    g = gate()
    for _ in range(3):
        assert not g.try_pin("111112")
    assert g.locked_for() == 60.0
    assert state.stat().st_mode & 0o777 == 0o600 and state.parent.stat().st_mode & 0o777 == 0o700
    mono[0], wall[0] = 0.0, wall[0] + 30  # a reboot: the monotonic clock starts again
    g = gate()
    assert 29.0 <= g.locked_for() <= 30.0 and not g.try_pin("482916"), "a restart does not open the pad"
    wall[0] -= 10_000  # a clock set back cannot lengthen the lock past its own length
    assert gate().locked_for() <= 60.0
    mono[0] += 31
    for _ in range(3):
        g.try_pin("111112")
    assert g.locked_for() == 120.0
    mono[0] += 121
    for _ in range(3):
        g.try_pin("111112")
    assert g.locked_for() == 200.0, "capped at max_lockout_s"
    mono[0] += 201
    assert g.try_pin("482916") and g.lockouts == 0 and gate().lockouts == 0
    state.write_text("{damaged")
    assert gate().locked_for() > 0, "a damaged state file locks rather than opens"


@pytest.mark.parametrize("folder", ["/", "~", "/etc", "/usr/local/share/kiosk", "/home", "/var"])
def test_system_folders_and_home_are_refused_as_data_dir(folder: str) -> None:
    from kiosk.config import parse_config
    from kiosk.errors import ConfigError

    with pytest.raises(ConfigError, match="data_dir"):
        parse_config({"data_dir": folder})


def test_config_check_refuses_the_root_as_data_dir(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "kiosk.toml"
    cfg.write_text('data_dir = "/"\n')
    done = subprocess.run([sys.executable, "-m", "kiosk", "config", "check", str(cfg)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2 and "data_dir" in done.stderr and len(done.stderr.strip().splitlines()) == 1
