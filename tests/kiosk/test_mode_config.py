"""Station modes in the config: presets that keys still override, what a mode needs and lacks (refused with one
line naming the key), the id pattern's bounded cost, the lead list kept and deleted by retention, `kiosk leads`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.app.modes import MODE_TEXTS, plan_for
from kiosk.app.operator import hash_pin
from kiosk.app.outboxes import Outboxes, lead_csv
from kiosk.cli import main
from kiosk.config import KioskConfig, parse_config
from kiosk.delivery.config import HandoffConfig
from kiosk.delivery.handoff import validate_identity
from kiosk.errors import ConfigError, InputError
from kiosk.session.retention import RetentionConfig
from kiosk.session.store import SessionStore
from tests.conftest import kiosk_env

PIN = f'[ui]\npin_hash = "{hash_pin("482916")}"\n'
I18N = Path(__file__).resolve().parents[2] / "kiosk" / "i18n"


def test_walk_in_is_the_default_and_changes_nothing() -> None:
    cfg = KioskConfig()
    plan = plan_for(cfg)
    assert cfg.mode == "walk-in" and not plan.identity_step and not plan.email_step
    assert cfg.delivery.download.enabled and cfg.ui.formats == ["portrait", "linkedin"]


def test_hr_onboarding_preset_and_overrides(tmp_path: Path) -> None:
    hr = {"mode": "hr-onboarding", "delivery": {"handoff": {"target": "folder", "folder": str(tmp_path)}}}
    cfg = parse_config(hr)
    plan = plan_for(cfg)
    assert plan.identity_step and not plan.email_step and plan.badge_scan
    assert not cfg.delivery.download.enabled, "no QR unless configured"
    assert cfg.delivery.handoff.format == "badge" and cfg.ui.formats == ["badge"]
    # Keys the file sets win over the preset.
    hr["delivery"]["download"] = {"enabled": True}
    hr["delivery"]["handoff"]["format"] = "portrait"
    hr["station"] = {"badge_scan": False}
    cfg = parse_config(hr)
    assert cfg.delivery.download.enabled and cfg.ui.formats == ["portrait"] and not plan_for(cfg).badge_scan


def test_event_preset_turns_the_email_step_on() -> None:
    cfg = parse_config({"mode": "event", "station": {"lead_list": True}})
    plan = plan_for(cfg)
    assert cfg.delivery.mail.enabled and plan.email_step and plan.lead_list and not plan.identity_step
    assert plan.text_key("consent.body") == "consent.body@event" and plan.text_key("consent.title") == "consent.title"


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ({"mode": "hr-onboarding"}, "needs a hand-off target: set delivery.handoff.target"),
        ({"mode": "event", "delivery": {"mail": {"enabled": False}}}, "mode 'event' needs e-mail"),
        ({"station": {"lead_list": True}}, "station.lead_list needs the e-mail step"),
        ({"delivery": {"handoff": {"target": "folder", "folder": "/srv/hr", "format": "badge"}}},
         "delivery.handoff.format 'badge' is not made: add it to ui.formats"),
        ({"mode": "kiosk"}, "mode:"),
        ({"station": {"consent_version": "v 2"}}, "station.consent_version"),
    ],
)
def test_what_a_mode_lacks_is_named(table: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(table)
    assert needle in str(err.value)


def test_config_check_names_what_the_mode_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('mode = "hr-onboarding"\n' + PIN)
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "delivery.handoff.target" in err[0] and "folder, sftp or webhook" in err[0], err
    path.write_text(f'mode = "hr-onboarding"\n{PIN}\n[delivery.handoff]\ntarget = "folder"\nfolder = "{tmp_path}"\n')
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "mode hr-onboarding: steps id; hand-off to folder as badge" in out


def test_id_pattern_cost_is_bounded() -> None:
    for evil in (r"^(a+)+$", r"^(a|aa)*$", r"^(\w+\d*)+-$"):
        with pytest.raises(ValueError, match="repeat"):
            HandoffConfig(identity_pattern=evil)
    cfg = HandoffConfig(identity_pattern=r"^E-\d{5}$")
    # The configured pattern only ever sees at most 64 safe characters: longer text is refused before it.
    for attempt in ("E-" + "1" * 5000, "a" * 100_000 + "!", "E-12345" * 1000):
        with pytest.raises(InputError, match="characters we cannot use"):
            validate_identity(attempt, cfg)
    assert validate_identity(" E-10442 ", cfg) == "E-10442"


def test_every_mode_text_is_translated() -> None:
    keys = [f"{k}@{mode}" for mode, ks in MODE_TEXTS.items() for k in ks]
    assert keys
    en = json.loads((I18N / "en.json").read_text(encoding="utf-8"))
    for lang in ("es", "fr", "de", "pt", "zh"):
        d = json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))
        for key in [*keys, *(k for k in en if k.startswith("station."))]:
            assert d.get(key) and d[key] != en[key], (lang, key)


def test_lead_list_kept_for_the_organiser_and_deleted_by_retention(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    store = SessionStore(tmp_path / "data", RetentionConfig(max_age_hours=2), clock=lambda: now[0])
    boxes = Outboxes(store)
    boxes.add_lead("ada@example.org", "3", now=now[0])
    boxes.add_lead("=cmd|'/c calc'!A1@example.org", "3", now=now[0] + 60)
    rows = list(csv.reader(io.StringIO(lead_csv(store))))
    assert rows[0] == ["time_utc", "email", "consent_version"]
    assert rows[1] == ["2023-11-14T22:13:20Z", "ada@example.org", "3"]
    assert rows[2][1].startswith("'="), "a spreadsheet must not run an address as a formula"
    assert all((f.path.stat().st_mode & 0o777) == 0o600 for f in store.files_of_kind("lead"))
    now[0] += 3600
    assert store.sweep().sessions == 0, "kept until the hard cap"
    now[0] += 3601
    assert store.sweep().sessions == 2
    assert lead_csv(store).count("\n") == 1 and not list((tmp_path / "data" / "sessions").iterdir())


def test_kiosk_leads_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = SessionStore(data)
    Outboxes(store).add_lead("grace@example.org", "1")
    store.close()
    env = kiosk_env(KIOSK_DATA_DIR=str(data))
    env.pop("KIOSK_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "kiosk", "leads"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].endswith(",grace@example.org,1")
    out = tmp_path / "leads.csv"
    done = subprocess.run([sys.executable, "-m", "kiosk", "leads", "--out", str(out)], capture_output=True,
                          text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0 and "1 lead(s)" in done.stderr and "lead_list is off" in done.stderr
    assert (out.stat().st_mode & 0o777) == 0o600
    again = subprocess.run([sys.executable, "-m", "kiosk", "leads", "--out", str(out)], capture_output=True,
                           text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
