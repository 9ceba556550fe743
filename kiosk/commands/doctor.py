"""`kiosk doctor`: check an installation and say, for each problem, how to fix it.

Each check prints one line ``OK|WARN|FAIL  name  what was found`` and, when not OK, an indented
``fix: ...`` line. Exit 0 when nothing FAILs (warnings allowed), 2 when something does (the installation,
not the kiosk code, is wrong: bad input in the house's exit-code terms). ``--json`` prints the list.

FAIL is for what stops the kiosk or loses a guest's photo (config invalid, no operator PIN or the old
default, models missing, data folder not writable or nearly full, configured camera/bridge/printer absent,
corrupt model pack, no display, clock years off); WARN is for what degrades it (no printer configured,
printer out of paper, unit or udev rule not installed, clock not synchronised, sessions waiting to be
delivered).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kiosk.commands import Subparsers

OK, WARN, FAIL = "OK", "WARN", "FAIL"
UNIT = "etc/systemd/system/headshot-kiosk.service"
UDEV_RULE = "etc/udev/rules.d/99-headshot-bridge.rules"
# Below this much free space the kiosk cannot promise to keep a guest's photo (FAIL), below the other it
# soon will not (WARN), bytes.
FREE_FAIL = 200 << 20
FREE_WARN = 2 << 30
# The build of this code is newer than this: a clock before it is certainly wrong (retention, TLS, C2PA).
CLOCK_FLOOR = 1735689600  # 2025-01-01T00:00:00Z
REQUIRED_MODULES = ("numpy", "cv2", "mediapipe", "onnxruntime", "pydantic", "serial", "PIL", "segno", "kivy")


@dataclass
class Check:
    """One line of the report."""

    name: str
    level: str  # OK, WARN, FAIL
    detail: str
    fix: str = ""


def register(sub: Subparsers) -> None:
    """Add the `doctor` command."""
    p = sub.add_parser("doctor", help="check this installation and say how to fix what is wrong")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument(
        "--root", default="/", help="look for installed system files (systemd unit, udev rule) under this folder"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run every check, print the report; exit 0 without FAIL, 2 with."""
    checks = diagnose(args.config, Path(args.root))
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))  # noqa: T201  # reason: CLI output
    else:
        for c in checks:
            print(f"{c.level:<4}  {c.name:<10} {c.detail}")  # noqa: T201  # reason: CLI output
            if c.fix and c.level != OK:
                print(f"{'':16}fix: {c.fix}")  # noqa: T201  # reason: CLI output
        fails = sum(c.level == FAIL for c in checks)
        warns = sum(c.level == WARN for c in checks)
        print(f"{fails} failed, {warns} warning(s), {len(checks) - fails - warns} ok")  # noqa: T201  # reason: CLI output
    return 2 if any(c.level == FAIL for c in checks) else 0


def diagnose(config_path: str | None, root: Path = Path("/")) -> list[Check]:
    """All checks, in order; those that need a valid config are skipped (FAIL) when it is not."""
    from kiosk.config import load_config
    from kiosk.errors import ConfigError

    checks = [check_packages()]
    cfg: Any = None
    try:
        cfg = load_config(config_path)
    except ConfigError as err:
        checks.append(Check("config", FAIL, str(err), "correct that key (see `kiosk config check`)"))
        cfg = None
    else:
        checks.append(Check("config", OK, f"valid (data folder {cfg.data_dir})"))
    if cfg is not None:
        for fn in (
            check_pin,
            check_data_dir,
            check_journal,
            check_models,
            check_pack,
            check_runtime,
            check_camera,
            check_bridge,
            check_printer,
            check_download,
            check_mail,
            check_handoff,
        ):
            checks.append(_guarded(fn, cfg))
    checks.append(check_display())
    checks.append(check_unit(root))
    checks.append(check_udev(root, cfg))
    checks.append(check_clock())
    return checks


def _guarded(fn: Callable[[Any], Check], cfg: Any) -> Check:
    name = fn.__name__.removeprefix("check_")
    try:
        return fn(cfg)
    except Exception as err:  # noqa: BLE001  # reason: one broken check must not hide the others
        return Check(name, FAIL, f"check crashed: {type(err).__name__}: {err}", "report this with `kiosk -v doctor`")


# --- the checks ----------------------------------------------------------------------------------------


def check_packages() -> Check:
    """Every runtime package imports."""
    missing = []
    for key in ("KIVY_NO_CONSOLELOG", "KIVY_NO_FILELOG", "KIVY_NO_ARGS"):
        os.environ.setdefault(key, "1")  # importing kivy must not print its banner or take our arguments
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")  # and must leave the logging setup alone
    root = logging.getLogger()
    level = root.level
    logging.disable(logging.INFO)  # kivy logs a banner at import whatever its settings say
    for mod in REQUIRED_MODULES:
        try:
            importlib.import_module(mod)
        except Exception as err:  # noqa: BLE001  # reason: any import failure (ImportError, a broken .so) is the finding
            missing.append(f"{mod} ({type(err).__name__})")
    logging.disable(logging.NOTSET)
    root.setLevel(level)  # kivy may lower the root logger's level on import
    logging.getLogger("kivy").setLevel(max(level, logging.WARNING))
    if missing:
        return Check(
            "packages", FAIL, "cannot import: " + ", ".join(missing), "run scripts/setup.sh (or pip install -e .)"
        )
    return Check("packages", OK, f"{len(REQUIRED_MODULES)} runtime packages import")


def check_pin(cfg: Any) -> Check:
    """The operator PIN is set and is not the old shipped default."""
    from kiosk.app.config import pin_problem
    from kiosk.app.operator import pin_state_file

    problem = pin_problem(cfg.ui)
    if problem:
        return Check("pin", FAIL, problem.split(": ", 1)[1].split(":", 1)[0], "run `kiosk config pin`, set ui.pin_hash")
    gate = pin_state_file(cfg.data_dir)
    return Check("pin", OK, "operator PIN set" + (" (lockout state kept)" if gate.exists() else ""))


def check_data_dir(cfg: Any) -> Check:
    """The data folder exists (or can be made), takes an atomic write, and has room."""
    from models.store import atomic_write_bytes

    d = Path(cfg.data_dir)
    fix = f"create {d} writable by the kiosk's user (systemd: StateDirectory), or set data_dir"
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / f".doctor-{secrets.token_hex(4)}"
        atomic_write_bytes(probe, b"doctor")
        probe.unlink()
    except Exception as err:  # noqa: BLE001  # reason: any failure to write is the finding
        return Check("data", FAIL, f"{d} is not writable: {err}", fix)
    free = shutil.disk_usage(d).free
    gib = free / (1 << 30)
    if free < FREE_FAIL:
        return Check("data", FAIL, f"{d}: only {gib:.2f} GiB free", "free space (or run `kiosk wipe`)")
    if free < FREE_WARN:
        return Check("data", WARN, f"{d}: {gib:.2f} GiB free", "free space before the event (≥ 2 GiB)")
    return Check("data", OK, f"{d} writable, {gib:.1f} GiB free")


def check_journal(cfg: Any) -> Check:
    """The session journal opens, passes SQLite's integrity check, and reports undelivered sessions."""
    from kiosk.session.journal import Journal
    from kiosk.session.store import JOURNAL_NAME

    path = Path(cfg.data_dir) / JOURNAL_NAME
    if not path.exists():
        return Check("journal", OK, "no sessions yet")
    # Read-only look: no crash recovery here, a running kiosk may own the store.
    journal = Journal(path)
    try:
        if not journal.integrity_ok():
            return Check(
                "journal", FAIL, f"{path} fails its integrity check", "stop the kiosk, move the file aside, restart"
            )
        from kiosk.session.journal import Step

        waiting = [s for s in journal.sessions() if s.step in (Step.CAPTURED, Step.PROCESSED)]
    finally:
        journal.close()
    if waiting:
        return Check(
            "journal",
            WARN,
            f"{len(waiting)} captured session(s) not delivered yet",
            "nothing to do: retention deletes them after retention.max_age_hours; `kiosk wipe` removes them now",
        )
    return Check("journal", OK, "intact, nothing waiting")


def check_models(cfg: Any) -> Check:
    """The vision models are installed and match their sha256 (`kiosk models verify`)."""
    from models.store import ModelStore

    bad = [s for s in ModelStore(cfg.models_dir).verify() if s.state not in ("ok", "override")]
    if bad:
        what = ", ".join(f"{s.name} {s.state}" for s in bad)
        return Check("models", FAIL, what, "run `kiosk models fetch --force`")
    return Check("models", OK, f"verified in {cfg.models_dir}")


def check_pack(cfg: Any) -> Check:
    """The generative model pack, when generation is on: present, every file matches its sha256, licence."""
    from kiosk.commands.packs import build_hint
    from models.diffusion.licence import verdict
    from models.diffusion.pack import load_pack
    from models.errors import ModelError

    g = cfg.generation
    if not g.enabled:
        return Check("pack", OK, "generation off (studio headshots only)")
    pack_dir = g.resolved_pack_dir(cfg.models_dir)
    if not (pack_dir / "manifest.json").exists() and g.pack_dir is None:
        return Check("pack", WARN, f"no model pack at {pack_dir}: guests get studio headshots",
                     f"{build_hint(pack_dir)}; or set generation.enabled = false")
    try:
        pack = load_pack(pack_dir, verify="full")
    except ModelError as err:
        return Check("pack", FAIL, str(err), "rebuild it with `kiosk models build-pack SOURCE` (guests get studio "
                     "results meanwhile)")
    m = pack.manifest
    lic = verdict(m.license)
    found = f"{m.model_id} [{m.family}], {len(m.files)} files verified; licence {lic.message}"
    if not lic.paid_events_ok:
        return Check("pack", WARN, found, "for a paying event, build a pack from a model whose licence allows "
                     "commercial use (family sd15-lcm; see docs/operator/models.md)")
    return Check("pack", OK, found)


def check_runtime(cfg: Any) -> Check:
    """ONNX Runtime is installed once, the configured GPU providers really start, and engines are built."""
    from models.runtime.probe import ort_distributions, probe

    dists = ort_distributions()
    if len(dists) > 1:
        return Check("runtime", FAIL, f"several ONNX Runtime wheels installed: {', '.join(dists)} (they overwrite "
                     "each other's files)", "pip uninstall -y onnxruntime onnxruntime-gpu, then pip install "
                     "'headshot-kiosk[cpu]' or 'headshot-kiosk[gpu]'")
    if not dists:
        return Check("runtime", FAIL, "ONNX Runtime is not installed: no AI headshots",
                     "pip install 'headshot-kiosk[cpu]' (or [gpu] on an NVIDIA machine)")
    rt = cfg.generation.runtime
    probes = {p.name: p for p in probe(rt.device_id)}
    started = [name for name, p in probes.items() if p.started]
    what = f"{dists[0]}; providers that start here: {', '.join(started) or 'CPU only'}"
    if rt.kind == "tensorrt":
        return _check_native_engines(cfg, what)
    names = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider"}
    wanted = [names[p] for p in rt.providers if p != "cpu"]
    # Listed by the build but not starting: ONNX Runtime would quietly run on the CPU instead.
    failing = [f"{n} ({probes[n].detail})" for n in wanted if probes[n].listed and not probes[n].started]
    if failing:
        return Check("runtime", WARN, f"{what}; configured but not starting: {'; '.join(failing)}: generation "
                     "runs on the next provider (the CPU at worst, minutes per headshot)",
                     "check the NVIDIA driver and the CUDA/cuDNN versions onnxruntime-gpu needs (operator docs)")
    if "TensorrtExecutionProvider" in started and "TensorrtExecutionProvider" in wanted:
        note = _ort_engine_note(cfg)
        if note:
            return Check("runtime", WARN, f"{what}; {note}", "run `kiosk models build-engines` once (minutes)")
    return Check("runtime", OK, what)


def _pack_or_none(cfg: Any) -> Any:
    from models.diffusion.pack import load_pack
    from models.errors import ModelError

    pack_dir = cfg.generation.resolved_pack_dir(cfg.models_dir)
    if not (pack_dir / "manifest.json").exists():
        return None
    try:
        return load_pack(pack_dir, verify="none")
    except ModelError:
        return None


def _ort_engine_note(cfg: Any) -> str | None:
    """Which graphs lack a TensorRT EP engine for this GPU (None: all built, or no pack)."""
    from models.diffusion.pack import COMPONENTS
    from models.runtime.ort import OrtRuntime

    pack = _pack_or_none(cfg)
    if pack is None:
        return None
    rt = OrtRuntime(cfg.generation.runtime, cfg.generation.runtime.cache_dir or pack.root / "engines")
    precision = pack.precision(rt.prefers_fp16)
    lacking = [c for c in COMPONENTS
               if not (m := rt.engine_marker(pack.graph(c, precision), pack.static_shapes(c),
                                             pack.graph_digests(c, precision))) or not m.exists()]
    return f"no TensorRT engine yet for {', '.join(lacking)} (the CUDA provider runs meanwhile)" if lacking else None


def _check_native_engines(cfg: Any, what: str) -> Check:
    from models.diffusion.pack import COMPONENTS
    from models.runtime import make_runtime
    from models.runtime.base import RuntimeUnavailable

    pack = _pack_or_none(cfg)
    try:
        rt = make_runtime(cfg.generation.runtime, engine_dir=None if pack is None else pack.root / "engines")
    except RuntimeUnavailable as err:
        return Check("runtime", FAIL, f"{what}; native TensorRT cannot run: {err}", "see the operator docs (GPU)")
    if pack is None:
        return Check("runtime", OK, f"{what}; native TensorRT ready (no pack yet)")
    precision = pack.precision(rt.prefers_fp16)
    lacking = [c for c in COMPONENTS if not rt.engine_path(  # type: ignore[attr-defined]  # reason: TensorRTRuntime
        pack.graph(c, precision), pack.static_shapes(c), pack.graph_digests(c, precision)).exists()]
    if lacking:
        return Check("runtime", FAIL, f"{what}; no TensorRT engine for {', '.join(lacking)} on this GPU: the kiosk "
                     "will not build one while starting, guests get studio headshots",
                     "run `kiosk models build-engines` once (minutes)")
    return Check("runtime", OK, f"{what}; TensorRT engines built for this GPU")


def check_camera(cfg: Any) -> Check:
    """The configured camera is there (device node, gphoto2 camera, or the virtual camera's source)."""
    cam = cfg.camera
    if cam.backend == "virtual":
        from kiosk.camera.virtual import demo_portrait_path

        src = cam.source or demo_portrait_path()
        if not Path(src).is_file():
            return Check("camera", FAIL, f"virtual camera source {src} missing", "set camera.source to a file")
        return Check("camera", WARN, f"virtual camera playing {Path(src).name}", "set camera.backend for a real camera")
    if cam.backend == "opencv":
        dev = cam.device
        path = Path(f"/dev/video{dev}") if dev.isdigit() else Path(dev)
        if not path.exists():
            found = sorted(str(p) for p in Path("/dev").glob("video*"))
            return Check(
                "camera",
                FAIL,
                f"{path} not present (found: {', '.join(found) or 'none'})",
                "plug the camera in, or set camera.device",
            )
        if not os.access(path, os.R_OK | os.W_OK):
            return Check("camera", FAIL, f"{path}: no permission", "add the kiosk's user to the video group")
        return Check("camera", OK, f"{path} present")
    tool = shutil.which("gphoto2")
    if tool is None:
        return Check("camera", FAIL, "gphoto2 is not installed", "apt-get install gphoto2 (or pick another backend)")
    out = subprocess.run([tool, "--auto-detect"], capture_output=True, text=True, timeout=20, check=False)
    lines = [ln for ln in out.stdout.splitlines()[2:] if ln.strip()]
    if not lines:
        return Check("camera", FAIL, "gphoto2 sees no camera", "plug the camera in by USB and switch it on")
    return Check("camera", OK, f"gphoto2: {lines[0].strip()}")


def check_bridge(cfg: Any) -> Check:
    """The microcontroller's port is present (when lights are configured)."""
    url = cfg.lights.port_url
    if not url:
        return Check(
            "bridge",
            WARN,
            "no lights configured (lights.port_url empty)",
            'set lights.port_url = "/dev/headshot-bridge"',
        )
    if "://" in url:
        return Check(
            "bridge", WARN, f"{url}: a simulator or network URL, not a board", "use /dev/headshot-bridge on site"
        )
    path = Path(url)
    if not path.exists():
        return Check(
            "bridge",
            FAIL,
            f"{url} not present",
            "plug the controller in by USB; install deploy/udev/99-headshot-bridge.rules for /dev/headshot-bridge",
        )
    if not os.access(path, os.R_OK | os.W_OK):
        return Check("bridge", FAIL, f"{url}: no permission", "add the kiosk's user to the dialout group")
    return Check("bridge", OK, f"{url} present")


def check_printer(cfg: Any) -> Check:
    """CUPS answers and the printer can take a job (when printing is configured)."""
    from kiosk.delivery.adapters import printing_configured
    from kiosk.delivery.printing import PrintError, PrintService
    from kiosk.errors import KioskError

    if not printing_configured(cfg):
        return Check(
            "printer", WARN, "no printer: guests get the QR download only", "set delivery.printing.printer (lpadmin)"
        )
    svc = PrintService(cfg.delivery.printing, cfg.data_dir)
    try:
        status = svc.status()
    except (PrintError, KioskError) as err:
        return Check("printer", FAIL, str(err), "start CUPS (systemctl start cups) and check the queue name")
    level = svc.counter.level()
    paper = f"; paper {level.remaining}/{level.capacity}"
    if not status.can_print:
        return Check(
            "printer", WARN, status.describe() + paper, "fix the printer; the kiosk resumes printing by itself"
        )
    if level.remaining <= cfg.delivery.printing.low_paper_sheets:
        return Check(
            "printer", WARN, status.describe() + paper, "load paper, then reset the counter in the operator menu"
        )
    return Check("printer", OK, status.describe() + paper)


def check_download(cfg: Any) -> Check:
    """The download server's addresses belong to this machine."""
    dl = cfg.delivery.download
    if not dl.enabled:
        return Check("download", OK, "phone download off")
    from kiosk.delivery.reach import is_local_address, phone_reach, resolve_bind
    from kiosk.status import Level

    bad = [f"{addr} (not an address of this machine)" for addr in resolve_bind(dl.bind) if not is_local_address(addr)]
    if bad:
        return Check(
            "download",
            FAIL,
            "cannot listen on " + ", ".join(bad),
            "set delivery.download.bind to this machine's address",
        )
    reach = phone_reach(dl)  # the one judgement, as `kiosk config check` and the operator menu give it
    if reach.level is not Level.OK:
        return Check("download", FAIL if reach.level is Level.FAIL else WARN, reach.line, reach.fix or "")
    return Check("download", OK, "on " + ", ".join(resolve_bind(dl.bind)) + f": {reach.line}")


def check_mail(cfg: Any) -> Check:
    """The SMTP relay takes the kiosk (TLS as configured, the login), when e-mail is on; nothing is sent."""
    from kiosk.delivery.mail import SmtpRelay

    m = cfg.delivery.mail
    if not m.enabled:
        return Check("mail", OK, "e-mail off")
    return _probed("mail", f"{m.host}:{m.port} ({m.security})", SmtpRelay(m).probe(),
                   "check host, port, security, username and password_file under [delivery.mail]")


def check_handoff(cfg: Any) -> Check:
    """The hand-off target takes the kiosk (folder writable; SFTP host key and login; webhook TLS and token)."""
    from kiosk.delivery.handoff import HandoffTarget

    h = cfg.delivery.handoff
    if h.target == "none":
        return Check("handoff", OK, "no hand-off target" + (" (mode hr-onboarding needs one)"
                                                             if cfg.mode == "hr-onboarding" else ""))
    where = {"folder": str(h.folder), "sftp": f"{h.sftp_user}@{h.sftp_host}:{h.sftp_port}",
             "webhook": str(h.webhook_url)}[h.target]
    return _probed("handoff", f"{h.target} {where}", HandoffTarget(h).probe(),
                   f"check the {h.target} keys under [delivery.handoff]")


def _probed(name: str, what: str, outcome: str, fix: str) -> Check:
    """A target's probe outcome as a check: taken (OK), refused the kiosk (FAIL), unreachable now (WARN)."""
    from kiosk.delivery.outbox import OPERATOR_PREFIX

    if outcome == "sent":
        return Check(name, OK, f"{what}: reached, credentials taken")
    if outcome.startswith(OPERATOR_PREFIX):
        return Check(name, FAIL, f"{what}: {outcome.removeprefix(OPERATOR_PREFIX)}", fix)
    return Check(name, WARN, f"{what}: not reachable now ({outcome}); items wait in the outbox",
                 "check the network and that the server is up; the kiosk retries by itself")


def check_display() -> Check:
    """A display the kiosk can open: $DISPLAY's X server socket answers (or $WAYLAND_DISPLAY's)."""
    wl = os.environ.get("WAYLAND_DISPLAY")
    if wl:
        path = Path(wl) if wl.startswith("/") else Path(os.environ.get("XDG_RUNTIME_DIR", "/run")) / wl
        return _socket_check("display", path, f"Wayland {wl}")
    disp = os.environ.get("DISPLAY", "")
    if not disp:
        return Check(
            "display", FAIL, "no DISPLAY or WAYLAND_DISPLAY", "start the display (headshot-kiosk-xorg.service)"
        )
    host, _, num = disp.partition(":")
    if host not in ("", "unix"):
        return Check("display", WARN, f"DISPLAY={disp} is remote", "run the kiosk on the local display :0")
    return _socket_check("display", Path(f"/tmp/.X11-unix/X{num.split('.')[0]}"), f"X display {disp}")


def _socket_check(name: str, path: Path, what: str) -> Check:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2.0)
            s.connect(str(path))
    except OSError as err:
        return Check(name, FAIL, f"{what}: no server at {path} ({err.strerror or err})", "start the display server")
    return Check(name, OK, f"{what} answers")


def check_unit(root: Path) -> Check:
    """The systemd unit is installed (and enabled, where systemctl can tell)."""
    unit = root / UNIT
    if not unit.is_file():
        return Check(
            "systemd", WARN, f"{unit} not installed (no restart on failure, no watchdog)", "sudo deploy/install.sh"
        )
    text = unit.read_text(errors="replace")
    missing = [k for k in ("Type=notify", "WatchdogSec=", "Restart=on-failure") if k not in text]
    if missing:
        return Check("systemd", WARN, f"{unit} lacks {', '.join(missing)}", "reinstall it from deploy/systemd/")
    if str(root) == "/" and shutil.which("systemctl"):
        out = subprocess.run(
            ["systemctl", "is-enabled", "headshot-kiosk.service"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        state = out.stdout.strip() or out.stderr.strip()
        if state != "enabled":
            return Check(
                "systemd", WARN, f"unit installed but {state or 'not enabled'}", "systemctl enable headshot-kiosk"
            )
    return Check("systemd", OK, f"{unit} installed")


def check_udev(root: Path, cfg: Any) -> Check:
    """The udev rule naming the microcontroller /dev/headshot-bridge is installed."""
    rule = root / UDEV_RULE
    if rule.is_file() and "headshot-bridge" in rule.read_text(errors="replace"):
        return Check("udev", OK, f"{rule} installed")
    wants = cfg is not None and cfg.lights.port_url == "/dev/headshot-bridge"
    return Check(
        "udev",
        FAIL if wants else WARN,
        f"{rule} not installed" + (" but lights.port_url is /dev/headshot-bridge" if wants else ""),
        "sudo cp deploy/udev/99-headshot-bridge.rules /etc/udev/rules.d/ && sudo udevadm control --reload",
    )


def check_clock(now: float | None = None) -> Check:
    """The wall clock is plausible and, where timedatectl can tell, synchronised."""
    now = time.time() if now is None else now
    if now < CLOCK_FLOOR:
        stamp = time.strftime("%Y-%m-%d", time.gmtime(now))
        return Check("clock", FAIL, f"clock says {stamp}", "set the time (timedatectl set-ntp true, or an RTC)")
    if shutil.which("timedatectl"):
        out = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if out.returncode == 0 and out.stdout.strip() == "no":
            return Check("clock", WARN, "not synchronised (NTP)", "timedatectl set-ntp true (retention uses the clock)")
    return Check("clock", OK, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now)))
