"""`kiosk doctor` on a good installation (real Xvfb, real private cupsd, deploy/install.sh into a folder,
a pseudo-terminal as the bridge port) and on broken ones (each fault named with its fix, exit 2); the model
pack's checks (present, every sha256, licence) and the runtime's (one ONNX Runtime wheel, providers that
really start, native TensorRT) on a pack made by build-pack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import xvfb_display

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "delivery"))
from cups_harness import CupsServer, running_cups  # reason: test helper of the printing tests

from kiosk.app.operator import hash_pin  # reason: as above
from kiosk.cli import main  # reason: after the helper path is set
from kiosk.commands.doctor import FAIL, OK, WARN, check_clock, check_pack, check_runtime  # reason: as above
from kiosk.config import KioskConfig  # reason: as above
from models.diffusion.pack import STAMP  # reason: as above

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def xdisplay() -> Iterator[str]:
    """A real X server (Xvfb) on a free display number."""
    with xvfb_display(200) as display:
        yield display


@pytest.fixture(scope="module")
def cups() -> Iterator[CupsServer]:
    with running_cups(["doc"]) as server:
        yield server


@pytest.fixture
def installed_root(tmp_path: Path) -> Path:
    """deploy/install.sh run with ROOT=<folder>: the unit, the udev rule, sysusers, a config file."""
    root = tmp_path / "root"
    done = subprocess.run(
        ["sh", str(REPO / "deploy" / "install.sh")],
        env={**os.environ, "ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return root


def doctor(
    capsys: pytest.CaptureFixture[str], config: Path, root: Path, monkeypatch: pytest.MonkeyPatch, display: str | None
) -> tuple[int, dict[str, dict[str, str]]]:
    if display is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DISPLAY", display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = main(["--config", str(config), "doctor", "--json", "--root", str(root)])
    checks = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in checks}


def test_good_installation_has_no_failure(
    isolated_env: Path,
    installed_root: Path,
    xdisplay: str,
    cups: CupsServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    master, slave = os.openpty()  # the microcontroller's serial port, as a device node
    try:
        cfg = tmp_path / "kiosk.toml"
        cfg.write_text(
            f'data_dir = "{isolated_env}"\n'
            '[camera]\nbackend = "virtual"\n'
            f'[lights]\nport_url = "{os.ttyname(slave)}"\n'
            "[generation]\nenabled = false\n"
            f'[delivery.printing]\nserver = "{cups.socket}"\nprinter = "{cups.tag}doc"\n'
            '[delivery.download]\nbind = ["127.0.0.1"]\n'  # loopback on any machine: the warning below
            f'[ui]\npin_hash = "{hash_pin("482916")}"\n'
        )
        code, checks = doctor(capsys, cfg, installed_root, monkeypatch, xdisplay)
    finally:
        os.close(master)
        os.close(slave)
    assert code == 0, checks
    for name in (
        "packages",
        "config",
        "pin",
        "data",
        "journal",
        "models",
        "pack",
        "runtime",
        "bridge",
        "printer",
        "display",
        "systemd",
        "udev",
        "clock",
    ):
        assert checks[name]["level"] == OK, checks[name]
    assert "ready" in checks["printer"]["detail"] and "paper 400/400" in checks["printer"]["detail"]
    assert checks["pack"]["detail"] == "generation off (studio headshots only)"
    assert "onnxruntime" in checks["runtime"]["detail"] and "providers that start here" in checks["runtime"]["detail"]
    # Degraded but working: the virtual camera and a loopback-only download server are warnings with a fix.
    assert checks["camera"]["level"] == WARN and checks["camera"]["fix"]
    assert checks["download"]["level"] == WARN and "bind" in checks["download"]["fix"]


def test_broken_installation_names_each_fault_and_its_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_pack: Path
) -> None:
    data = tmp_path / "data"  # no models installed here
    pack = tmp_path / "pack"
    shutil.copytree(tiny_pack, pack, ignore=shutil.ignore_patterns("engines"))
    victim = pack / "unet" / "model.onnx_data"
    data_bytes = victim.read_bytes()
    st = victim.stat()
    victim.write_bytes(data_bytes[:-1] + bytes([data_bytes[-1] ^ 0xFF]))  # one byte changed: sha256 mismatch
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with size and mtime kept: doctor hashes all
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(
        f'data_dir = "{data}"\n'
        '[camera]\nbackend = "opencv"\ndevice = "/dev/video97"\n'
        '[lights]\nport_url = "/dev/headshot-bridge"\n'
        f'[generation]\npack_dir = "{pack}"\n'
        f'[delivery.printing]\nserver = "{tmp_path / "no-cups.sock"}"\n'
    )
    code, checks = doctor(capsys, cfg, tmp_path / "empty-root", monkeypatch, None)
    assert code == 2
    expect_fail = {
        "pin": "kiosk config pin",
        "models": "kiosk models fetch",
        "pack": "kiosk models build-pack",
        "camera": "camera.device",
        "bridge": "udev",
        "printer": "cups",
        "display": "xorg",
        "udev": "udevadm",
    }
    for name, fix in expect_fail.items():
        assert checks[name]["level"] == FAIL, checks[name]
        assert fix in checks[name]["fix"].lower(), checks[name]
    assert "'unet/model.onnx_data' does not match its sha256" in checks["pack"]["detail"]
    assert checks["systemd"]["level"] == WARN and "install.sh" in checks["systemd"]["fix"]
    assert checks["data"]["level"] == OK  # the folder itself is fine


def test_corrupt_config_fails_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text('[camera]\nbackend = "virtual"\nfpss = 30\n')
    code, checks = doctor(capsys, cfg, tmp_path, monkeypatch, None)
    assert code == 2
    assert checks["config"]["level"] == FAIL and "camera.virtual.fpss" in checks["config"]["detail"]


def test_data_folder_that_cannot_be_written_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'data_dir = "{blocker / "data"}"\n')
    code, checks = doctor(capsys, cfg, tmp_path, monkeypatch, None)
    assert code == 2 and checks["data"]["level"] == FAIL and "not writable" in checks["data"]["detail"]


def test_clock_years_off_fails() -> None:
    assert check_clock(now=978307200.0).level == FAIL  # 2001-01-01
    assert check_clock().level in (OK, WARN)


def test_text_report_prints_a_fix_line_under_each_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "d"}"\n[camera]\nbackend = "opencv"\ndevice = "/dev/video97"\n')
    monkeypatch.delenv("DISPLAY", raising=False)
    code = main(["--config", str(cfg), "doctor", "--root", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 2
    i = next(i for i, line in enumerate(out) if line.startswith("FAIL  camera"))
    assert out[i + 1].strip().startswith("fix: ") and "failed" in out[-1]


def _gen_config(tmp_path: Path, **generation: object) -> KioskConfig:
    return KioskConfig.model_validate({"data_dir": tmp_path / "data", "generation": generation})


def test_pack_check_verifies_every_file_and_states_the_licence(tmp_path: Path, tiny_pack: Path) -> None:
    check = check_pack(_gen_config(tmp_path, pack_dir=tiny_pack))
    assert check.level == OK, check
    files = len(json.loads((tiny_pack / "manifest.json").read_text())["files"])
    assert check.detail.startswith(f"tiny_diffusers [sd-turbo], {files} files verified")
    assert "licence cc0-1.0: commercial use allowed" in check.detail


def test_pack_with_a_non_commercial_licence_is_a_warning_with_the_way_out(tmp_path: Path, tiny_pack: Path) -> None:
    pack = tmp_path / "nc-pack"
    shutil.copytree(tiny_pack, pack, ignore=shutil.ignore_patterns("engines", STAMP))
    manifest = json.loads((pack / "manifest.json").read_text())
    (pack / "manifest.json").write_text(json.dumps({**manifest, "license": "stabilityai-nc-research-community"}))
    check = check_pack(_gen_config(tmp_path, pack_dir=pack))
    assert check.level == WARN, check
    assert "non-commercial use only" in check.detail
    assert "sd15-lcm" in check.fix and "paying event" in check.fix


def test_no_pack_at_the_default_place_is_a_warning_with_the_build_command(tmp_path: Path) -> None:
    check = check_pack(_gen_config(tmp_path))
    assert check.level == WARN and "guests get studio headshots" in check.detail
    assert "kiosk models build-pack stabilityai/sd-turbo" in check.fix
    assert str(tmp_path / "data" / "models" / "packs" / "default") in check.fix
    assert "generation.enabled = false" in check.fix


def test_a_configured_pack_that_is_not_there_fails(tmp_path: Path) -> None:
    check = check_pack(_gen_config(tmp_path, pack_dir=tmp_path / "gone"))
    assert check.level == FAIL and "not a folder" in check.detail and "build-pack" in check.fix


def test_runtime_check_names_the_onnxruntime_wheel_and_what_starts(tmp_path: Path) -> None:
    import onnxruntime as ort

    check = check_runtime(_gen_config(tmp_path, runtime={"kind": "ort", "providers": ["cpu"]}))
    assert check.level == OK, check
    assert check.detail.startswith(f"onnxruntime {ort.__version__}") or "onnxruntime-gpu" in check.detail
    if set(ort.get_available_providers()) <= {"CPUExecutionProvider", "AzureExecutionProvider"}:
        assert "providers that start here: CPU only" in check.detail


def test_runtime_check_for_native_tensorrt_without_tensorrt_fails_saying_why(tmp_path: Path) -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        check = check_runtime(_gen_config(tmp_path, runtime={"kind": "tensorrt"}))
        assert check.level == FAIL and "native TensorRT cannot run: TensorRT is not installed" in check.detail
        assert check.fix
        return
    pytest.skip("tensorrt is installed here: the engine checks need a GPU machine's own run")
