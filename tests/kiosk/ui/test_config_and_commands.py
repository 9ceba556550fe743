"""The documented sample config, `kiosk config check|sample|pin`, `kiosk run` without a display, the i18n
files, and the headless kiosk session (`kiosk demo` without a display)."""

from __future__ import annotations

import io
import json
import re
import tomllib
from pathlib import Path

import pytest

from kiosk.app.operator import hash_pin
from kiosk.cli import main
from kiosk.config import KioskConfig, parse_config
from kiosk.configdoc import sample_toml
from kiosk.i18n import BUNDLED, Texts


def test_sample_round_trips_to_the_defaults() -> None:
    text = sample_toml()
    cfg = parse_config(tomllib.loads(text), "sample")
    default = KioskConfig()
    assert cfg.model_dump(exclude={"data_dir"}) == default.model_dump(exclude={"data_dir"})


def test_every_sample_key_is_documented() -> None:
    lines = sample_toml().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(?:# )?([a-z_0-9]+) = ", line)
        if m:
            prev = lines[i - 1]
            assert prev.startswith("# ") and not re.match(r"^# [a-z_0-9]+ = ", prev), f"undocumented: {line}"
    text = "\n".join(lines)
    for key in ("retake_limit", "stillness_s", "pin_hash", "port_url", "review_auto_confirm_s", "backend"):
        assert f"\n{key} = " in text or f"\n# {key} = " in text


def test_sample_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kiosk.toml"
    assert main(["config", "sample", "--out", str(out)]) == 0
    assert main(["config", "sample", "--out", str(out)]) == 2  # never overwrites
    capsys.readouterr()
    # The sample sets no operator PIN: refused with one line that says how to set one.
    assert main(["config", "check", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ui.pin_hash" in err[0] and "kiosk config pin" in err[0], err
    pin_line = f'pin_hash = "{hash_pin("482916")}"'
    out.write_text(out.read_text().replace("\n[ui]\n", f"\n[ui]\n{pin_line}\n", 1))
    assert main(["config", "check", str(out)]) == 0
    assert "config ok" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[ui]\nretake_limt = 1\n", "unknown key 'ui.retake_limt'"),
        ("[ui]\nretake_limit = 99\n", "ui.retake_limit"),
        ("[ui]\nlanguages = ['en', 'xx']\n", "no xx.json"),
        ("[ui]\nlanguages = ['en']\ndefault_language = 'de'\n", "ui.default_language"),
        ("[camera]\nbackend = 'virtual'\nsource = '/nonexistent.jpg'\n", "camera.source"),
        ("[camera]\nbackend = 'webcam'\n", "camera"),
        ("[lights]\ncountdown_ramp_ms = -5\n", "lights.countdown_ramp_ms"),
    ],
)
def test_check_names_the_bad_key(tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, needle: str) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(toml)
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_operator_text_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "de.json").write_text(json.dumps({"attract.title": "Ihr Foto"}), encoding="utf-8")
    t = Texts(["en", "de"], texts)
    assert t.t("de", "attract.title") == "Ihr Foto"
    assert t.t("de", "consent.agree") == "Einverstanden"  # the rest stays bundled
    (texts / "de.json").write_text("{not json", encoding="utf-8")
    path = tmp_path / "kiosk.toml"
    path.write_text(f"[ui]\ni18n_dir = '{texts}'\n")
    assert main(["config", "check", str(path)]) == 2
    assert "de.json" in capsys.readouterr().err


def test_bundled_languages_are_complete() -> None:
    langs = sorted(p.stem for p in BUNDLED.glob("*.json"))
    assert set(langs) >= {"en", "es", "fr", "de", "pt", "zh"}
    t = Texts(langs)
    en = json.loads((BUNDLED / "en.json").read_text(encoding="utf-8"))
    for lang in langs:
        assert t.missing(lang) == [], lang
        data = json.loads((BUNDLED / f"{lang}.json").read_text(encoding="utf-8"))
        for key, text in en.items():
            assert set(re.findall(r"\{(\w+)\}", data[key])) == set(re.findall(r"\{(\w+)\}", text)), (lang, key)


def test_ai_style_cards_speak_the_guests_language(tmp_path: Path) -> None:
    """The model pack's presets: known ones translated; others by the pack's name in "AI: {name}";
    an operator's override file can name a preset of their own pack."""
    (tmp_path / "de.json").write_text('{"style.ai:beach": "KI: Am Strand"}', encoding="utf-8")
    t = Texts(["en", "de", "zh"], tmp_path)

    def card(lang: str, style: str) -> str:
        key, kw = t.style_key(style)
        return t.t(lang, key, **kw)

    assert card("de", "ai:office") == "KI: Büro"
    assert card("zh", "ai:outdoor") == "AI：户外"
    assert card("de", "ai:studio-cfg") == "KI: Studio Cfg"
    assert card("en", "ai:night_city") == "AI: Night City"
    assert card("de", "ai:beach") == "KI: Am Strand"
    assert card("de", "studio-grey") == "Studiograu", "backdrops keep their own keys"


def test_pin_command_hashes_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.app.operator import verify_pin

    monkeypatch.setattr("sys.stdin", io.StringIO("482916\n"))
    assert main(["config", "pin"]) == 0
    line = capsys.readouterr().out.strip()
    encoded = line.split('"')[1]
    assert verify_pin("482916", encoded) and not verify_pin("482917", encoded)
    monkeypatch.setattr("sys.stdin", io.StringIO("12\n"))
    assert main(["config", "pin"]) == 2


def test_run_without_display_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    from kiosk.config import default_data_dir

    if not (default_data_dir() / "models" / "face_detection_short_range.tflite").is_file():
        pytest.skip("MediaPipe models not installed (run `kiosk models fetch`)")
    assert main(["run"]) == 2  # the default config has no operator PIN: refused before anything starts
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kiosk config pin" in err[0], err
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'[ui]\npin_hash = "{hash_pin("482916")}"\n')
    assert main(["--config", str(cfg), "run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no display" in err[0]


def test_headless_kiosk_session(tmp_path: Path) -> None:
    """The demo's display-less path: the same controller and state machine, simulated taps."""
    from kiosk.config import default_data_dir

    models = default_data_dir() / "models"
    if not (models / "face_detection_short_range.tflite").is_file():
        pytest.skip(f"MediaPipe models not installed in {models}")
    from kiosk.app.assemble import Overrides, assemble
    from kiosk.app.config import UIConfig
    from kiosk.app.headless import run_session
    from kiosk.camera.config import VirtualCameraConfig
    from kiosk.camera.virtual import VirtualCamera
    from kiosk.delivery.ports import NoPrinter, OfflineDownloads
    from kiosk.lights import NoopLights

    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(models)
    cfg = KioskConfig(data_dir=data, ui=UIConfig(stillness_s=0.3, countdown_s=1, formats=["portrait"]))
    lights = NoopLights()
    parts = assemble(cfg, Overrides(
        camera=VirtualCamera(VirtualCameraConfig()),
        lights=lights,
        downloads=OfflineDownloads(),
        printer=NoPrinter(),
    ))
    c = parts.controller
    c.start()
    listeners = len(c.flow._listeners)
    try:
        run = run_session(c, tmp_path / "out", language="pt", style="white")
    finally:
        parts.close()
    assert len(c.flow._listeners) == listeners, "run_session must remove its listener"
    assert [p.name for p in run.files] == ["portrait-white.jpg"]
    assert (tmp_path / "out" / "kiosk-session.json").is_file()
    assert run.states[-1].startswith("attract")
    assert ("scene", "countdown") in lights.calls and ("lens", "blink") in lights.calls
    assert not [p for p in (data / "sessions").rglob("*") if p.is_file()], "the session's files must be gone"
    assert 0 < run.start_to_processed_s < run.total_s


def test_camera_section_without_backend_is_opencv() -> None:
    cfg = parse_config({"camera": {"device": "/dev/video1", "fps": 25}})
    assert cfg.camera.backend == "opencv" and cfg.camera.device == "/dev/video1"
    cfg = parse_config({"camera": {"backend": "virtual", "motion": 0}})
    assert cfg.camera.backend == "virtual"
