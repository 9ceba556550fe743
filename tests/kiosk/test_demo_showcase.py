"""`kiosk demo` without a display: every step of the showcase and every artefact it leaves, checked.

The real parts run: the studio pipeline with MediaPipe, the touch flow with simulated taps, the firmware
simulator on a pty, cupsd with the cups-pdf backend (skipped with the reason where it cannot run), the
download server over loopback, provenance read back, the session store's deletion; step 7 without a pack
(skipped, with the command that builds one) and with the tiny random-weight pack built by build-pack (its
output is refused by the quality gate: the step fails with the reason, the demo exits 1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest

from kiosk.commands.packs import build_hint
from kiosk.delivery import cups_local
from kiosk.delivery.handoff import read_qr
from kiosk.delivery.layouts import get_layout
from kiosk.delivery.provenance import inspect

STEPS = ["studio", "kiosk-session", "bridge", "printing", "download", "provenance", "generation", "privacy"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> tuple[Path, Path, str]:
    """One `kiosk demo --out DIR` run with no display and a fresh data folder: (out, data, stdout)."""
    base = tmp_path_factory.mktemp("showcase")
    data = base / "data"
    data.mkdir()
    (data / "models").symlink_to(models_dir, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "KIOSK_CONFIG")}
    env["KIOSK_DATA_DIR"] = str(data)
    out = base / "out"
    proc = subprocess.run([sys.executable, "-m", "kiosk", "demo", "--out", str(out)], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return out, data, proc.stdout


def _steps(out: Path) -> dict[str, dict]:
    summary = json.loads((out / "session.json").read_text())
    assert [s["step"] for s in summary["steps"]] == STEPS
    return {s["step"]: s for s in summary["steps"]}


def test_every_step_is_labelled_in_the_output_and_in_session_json(demo: tuple[Path, Path, str]) -> None:
    out, _, stdout = demo
    steps = _steps(out)
    printed = re.findall(r"^\[(\d)/8\] ([^:]+): (OK|SKIPPED|FAILED) \(", stdout, re.M)
    assert [int(n) for n, _, _ in printed] == list(range(1, 9))
    assert [t for _, t, _ in printed] == [steps[k]["title"] for k in STEPS]
    assert [s.lower() for _, _, s in printed] == [steps[k]["status"] for k in STEPS]
    must_run = ["studio", "kiosk-session", "bridge", "download", "provenance", "privacy"]
    assert {k: steps[k]["status"] for k in must_run} == dict.fromkeys(must_run, "ok")
    for step in steps.values():
        assert step["detail"], step
        for name in step["files"]:
            assert (out / name).is_file(), name
    assert str(out.resolve()) in stdout
    summary = json.loads((out / "session.json").read_text())
    listed = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "session.json"}
    assert set(summary["files"]) == listed
    assert summary["ok"] is True


def test_a_line_for_each_station_mode(demo: tuple[Path, Path, str]) -> None:
    _, _, stdout = demo
    for mode in ("hr-onboarding", "event", "walk-in"):
        assert re.search(rf"^mode {mode}: kiosk demo --headless --mode {mode} \(.+\)$", stdout, re.M), mode


def test_studio_results_and_the_touch_flow(demo: tuple[Path, Path, str]) -> None:
    out, _, _ = demo
    for name, size in {"portrait-studio-grey.jpg": (1500, 1200), "portrait-white.jpg": (1500, 1200),
                       "portrait-brand.jpg": (1500, 1200), "portrait-blurred.jpg": (1500, 1200),
                       "print-4x6.jpg": (1200, 1800), "linkedin.jpg": (1080, 1080), "badge.jpg": (800, 600)}.items():
        img = cv2.imread(str(out / name))
        assert img is not None and img.shape[:2] == size, name
    session = _steps(out)["kiosk-session"]
    assert any(f.endswith(".jpg") for f in session["files"])
    assert any(s.startswith("delivery") for s in session["states"]), session["states"]


def test_bridge_selftest_against_the_simulator(demo: tuple[Path, Path, str]) -> None:
    out, _, _ = demo
    selftest = json.loads((out / "bridge-selftest.json").read_text())
    assert selftest["ok"] is True and selftest["failures"] == []
    assert selftest["port"].startswith("sim://")
    assert selftest["lights"] and all(ch["ok"] for ch in selftest["lights"])
    assert all(selftest["scenes"].values()) and selftest["status"]["safe"] is True
    assert _steps(out)["bridge"]["ok"] is True


def test_the_print_layout_came_out_of_cups_pdf(demo: tuple[Path, Path, str]) -> None:
    out, _, _ = demo
    step = _steps(out)["printing"]
    why = cups_local.unavailable_reason()
    if why:
        assert step["status"] == "skipped" and why in step["detail"]
        pytest.skip(f"printing was skipped, as it should be here: {why}")
    assert step["status"] == "ok", step["detail"]
    pdf = out / "print-4x6.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdfinfo") is None:
        pytest.skip("pdfinfo is not installed (scripts/setup.sh installs poppler-utils)")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+1$", info, re.M), info
    m = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert m, info
    want = get_layout("4x6").page_pt
    assert sorted((float(m.group(1)), float(m.group(2)))) == pytest.approx(sorted(want), abs=1.0)
    # The page carries the headshots, not a blank sheet.
    page = subprocess.run(["pdftoppm", "-r", "20", "-gray", str(pdf)], capture_output=True, check=True).stdout
    img = cv2.imdecode(np.frombuffer(page, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert img is not None and float(img.std()) > 10.0
    # The private cupsd is gone, with its cups-pdf config.
    assert not (cups_local.CUPS_PDF_CONF_DIR / f"cups-pdf-{step['queue']}.conf").exists()


def test_the_phone_download_qr_decodes_to_the_printed_url(demo: tuple[Path, Path, str]) -> None:
    out, _, stdout = demo
    step = _steps(out)["download"]
    urls = re.findall(r"http://127\.0\.0\.1:\d+/d/[A-Za-z0-9_-]{32}", stdout)
    assert urls and urls[0] == step["url"]
    assert step["http_status"] == 200
    qr = cv2.imread(str(out / "download-qr.png"))
    assert qr is not None
    assert read_qr(qr) == urls[0]
    # The server was stopped at the end of its step.
    parts = urlsplit(urls[0])
    with socket.socket() as s:
        assert s.connect_ex((parts.hostname, parts.port)) != 0


def test_provenance_declaration(demo: tuple[Path, Path, str]) -> None:
    out, _, _ = demo
    step = _steps(out)["provenance"]
    declared = step["declaration"]
    assert declared["xmp_source_type"] == "algorithmicallyEnhanced"
    assert declared["declares_ai"] is False
    assert "sRGB" in (declared["icc_profile"] or "")
    assert step["undeclared"] == [] and step["jpegs"] >= 8
    again = inspect(out / step["file"])
    assert again.xmp_source_type == declared["xmp_source_type"]


def test_generation_without_a_pack_prints_the_command_that_builds_one(demo: tuple[Path, Path, str]) -> None:
    out, data, stdout = demo
    step = _steps(out)["generation"]
    default = data / "models" / "packs" / "default"
    assert not (default / "manifest.json").exists()
    command = build_hint(default)
    assert "kiosk models build-pack stabilityai/sd-turbo -o sd-turbo-pack" in command and str(default) in command
    assert step["status"] == "skipped" and step["generated"] is False
    assert step["detail"] == f"no model pack installed, the studio result is delivered: {command}"
    assert step["build_command"] == command
    assert command in stdout, "the operator sees the exact command"
    assert not list(out.glob("ai-*"))


def test_the_guest_data_left_the_session_store(demo: tuple[Path, Path, str]) -> None:
    from kiosk.session.store import SessionStore

    out, data, _ = demo
    step = _steps(out)["privacy"]
    assert step["session_deleted"] is True and step["folder_left"] is False
    # The results the download link refers to outlive the session end; everything else goes then.
    assert step["deleted_at_session_end"] + step["kept_by_link"] == step["session_files"] >= 9
    assert step["kept_by_link"] == len(_steps(out)["download"]["photos"]) > 0
    assert step["link_files_deleted"] > step["kept_by_link"]
    assert not [p for p in (data / "sessions").rglob("*") if p.is_file()]
    with SessionStore(data) as store:
        assert store.sessions() == []
    # The deliverables stay in the output folder.
    assert (out / "portrait-studio-grey.jpg").is_file()


def test_an_unavailable_part_is_skipped_and_a_refused_ai_result_fails_the_step(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_pack: Path
) -> None:
    """No cupsd on PATH: printing is skipped. The random-weight pack installed: step 7 runs, the quality gate
    refuses its noise, and the step fails with the reason (the studio result is what a guest would get)."""
    from kiosk.config import KioskConfig
    from kiosk.demo import run_headless
    from kiosk.generation.config import GenerationConfig

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    cfg = KioskConfig(data_dir=isolated_env, generation=GenerationConfig(pack_dir=tiny_pack, seed=5))
    report = run_headless(cfg, tmp_path / "out", kiosk_session=False)
    steps = {s.key: s for s in report.steps}
    assert steps["printing"].status == "skipped"
    assert "not installed" in steps["printing"].detail or "not root" in steps["printing"].detail
    gen = steps["generation"]
    assert gen.status == "failed", gen.detail
    assert gen.detail.startswith("tiny_diffusers: the AI result was refused: ")
    assert gen.detail.endswith("(the studio result is delivered)")
    assert gen.data["generated"] is False and gen.data["source_type"] == "edited" and gen.data["seed"] == 5
    assert gen.data["license"] == "cc0-1.0" and gen.data["pack_dir"] == str(tiny_pack)
    assert gen.data["fallback_reason"] in gen.detail
    assert {"seam_delta_e_p90", "noise_sigma", "faces_found"} <= set(gen.data["gate"])
    assert "build_command" not in gen.data, "a pack is installed: no build command"
    assert gen.files == [] and not list((tmp_path / "out").glob("ai-*"))
    assert {k: s.status for k, s in steps.items() if k not in ("printing", "generation")} == {
        "studio": "ok", "bridge": "ok", "download": "ok", "provenance": "ok", "privacy": "ok"}
    assert report.ok is False, "a failed step: `kiosk demo` exits 1"
    summary = json.loads((tmp_path / "out" / "session.json").read_text())
    assert summary["ok"] is False
    assert next(s for s in summary["steps"] if s["step"] == "generation")["status"] == "failed"
