"""The embedded default: one complete guest session on the bundled sample, no hardware needed.

`run_headless` runs the session as a list of labelled steps and writes everything to one folder:

1. studio headshots: every style and format, a contact sheet (the core; an error here stops the demo);
2. kiosk session: the touch flow (state machine, virtual camera, simulated bridge) with simulated taps;
3. bridge self-test against the firmware simulator (`sim://`), as `kiosk bridge selftest` does;
4. printing: the 4×6 layout through a private cupsd with a cups-pdf queue (root and CUPS needed);
5. phone download: the download server on 127.0.0.1, the page fetched once, the QR code saved;
6. provenance: what a delivered JPEG declares (`kiosk inspect`);
7. generation: one AI headshot when a model pack is installed, else why the studio result is delivered;
8. privacy: the demo's guest data deleted from the session store per retention, with the counts.

An optional part that cannot run here is `skipped` with the reason; one that breaks is `failed` (the demo
goes on and exits 1 at the end). `session.json` lists every step with its status.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.config import KioskConfig
from kiosk.delivery.provenance import encode_delivery
from kiosk.errors import KioskError
from kiosk.pipeline.background import STYLES
from kiosk.pipeline.formats import FORMATS
from kiosk.pipeline.imageio import load_image
from kiosk.pipeline.studio import StudioPipeline
from kiosk.session.store import SessionStore, Step
from models.store import atomic_write_bytes

SAMPLE = Path(__file__).with_name("assets") / "sample_portrait.png"
BRIDGE_URL = "sim://demo-selftest"
PRINT_LAYOUT = "4x6"


class StepSkipped(Exception):
    """An optional part cannot run here; the message says why."""


@dataclass
class DemoStep:
    """One labelled step of the demo and how it went."""

    key: str
    title: str
    status: str = "ok"  # ok | skipped | failed
    detail: str = ""
    files: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record for session.json."""
        return {"step": self.key, "title": self.title, "status": self.status, "detail": self.detail,
                "files": self.files, "seconds": round(self.seconds, 2), **self.data}


@dataclass
class DemoReport:
    """What the demo produced."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    steps: list[DemoStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No step failed (skipped ones are fine)."""
        return all(s.status != "failed" for s in self.steps)


@dataclass
class _Context:
    cfg: KioskConfig
    out_dir: Path
    report: DemoReport
    store: SessionStore
    session_id: str
    sample: Path
    delivered: dict[str, bytes] = field(default_factory=dict)  # portrait file name → JPEG bytes
    photo: np.ndarray | None = None  # prepared guest photo
    headshot: np.ndarray | None = None  # default-style portrait
    kiosk_sessions: set[str] = field(default_factory=set)  # store ids of the touch flow's guest sessions


def default_out_dir() -> Path:
    """out/demo-YYYYmmdd-HHMMSS under the current folder."""
    return Path("out") / datetime.now().strftime("demo-%Y%m%d-%H%M%S")


def run_headless(
    cfg: KioskConfig,
    out_dir: Path,
    sample: Path = SAMPLE,
    on_step: Callable[[DemoStep, int, int], None] | None = None,
    kiosk_session: bool = True,
) -> DemoReport:
    """Run the demo's steps (see the module docstring); write the results and session.json to out_dir.

    Args:
        cfg: the kiosk config.
        out_dir: output folder (created).
        sample: the guest's photo.
        on_step: called with (step, number, total) as each step ends (the CLI prints it).
        kiosk_session: also run the touch flow with simulated taps (step 2).
    """
    report = DemoReport(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    steps: list[tuple[str, str, Callable[[_Context, DemoStep], None]]] = [
        ("studio", "studio headshots", _studio),
        ("kiosk-session", "kiosk session (touch flow)", _kiosk_session),
        ("bridge", "bridge self-test", _bridge),
        ("printing", "printing", _printing),
        ("download", "phone download", _download),
        ("provenance", "provenance", _provenance),
        ("generation", "generation", _generation),
        ("privacy", "privacy", _privacy),
    ]
    if not kiosk_session:
        steps = [s for s in steps if s[0] != "kiosk-session"]
    store = SessionStore(cfg.data_dir, cfg.retention)
    session = store.create({"source": "demo"})
    try:
        ctx = _Context(cfg, out_dir, report, store, session.id, sample)
        run_steps(steps, ctx, report, on_step, core="studio")
    finally:
        _forget(store, session.id)  # does something only when the privacy step did not run to the end
        store.close()
    write_summary(report, t0, {"sample": sample.name})
    return report


def run_steps(steps: list[tuple[str, str, Callable[[Any, DemoStep], None]]], ctx: Any, report: DemoReport,
              on_step: Callable[[DemoStep, int, int], None] | None, core: str | None = None) -> None:
    """Run each (key, title, function) step, recording how it went; only the `core` step's error is raised."""
    for number, (key, title, func) in enumerate(steps, 1):
        step = DemoStep(key, title)
        start = time.monotonic()
        try:
            func(ctx, step)
        except StepSkipped as why:
            step.status, step.detail = "skipped", str(why)
        except Exception as err:  # reason: one step's failure is reported, the demo goes on
            if key == core:
                raise  # the core of the demo: its error (missing models, ...) is the command's error
            step.status = "failed"
            step.detail = str(err) if isinstance(err, KioskError) else f"{type(err).__name__}: {err}"
        finally:
            step.seconds = time.monotonic() - start
        report.steps.append(step)
        if on_step is not None:
            on_step(step, number, len(steps))


def write_summary(report: DemoReport, t0: float, head: dict[str, Any]) -> None:
    """The output folder's files and every step's record, as session.json."""
    out_dir = report.out_dir
    report.timings_ms["total"] = (time.monotonic() - t0) * 1000.0
    report.files = sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name != "session.json")
    summary = {
        **head,
        "files": [p.relative_to(out_dir).as_posix() for p in report.files],
        "notes": report.notes,
        "steps": [s.to_dict() for s in report.steps],
        "ok": report.ok,
        "total_ms": round(report.timings_ms["total"], 1),
    }
    atomic_write_bytes(out_dir / "session.json", json.dumps(summary, indent=2).encode())


def _forget(store: SessionStore, session_id: str) -> None:
    try:
        store.get(session_id)
    except KioskError:
        return
    store.delete(session_id)


# --- 1. studio -------------------------------------------------------------------------------------------


def _studio(ctx: _Context, step: DemoStep) -> None:
    cfg = ctx.cfg
    photo = load_image(ctx.sample)
    ctx.report.notes += photo.notes
    ctx.store.advance(ctx.session_id, Step.CONSENTED)
    ctx.store.write_file(ctx.session_id, "capture", "capture-1" + ctx.sample.suffix.lower(),
                         ctx.sample.read_bytes())
    ctx.store.advance(ctx.session_id, Step.CAPTURED)
    thumbs: list[np.ndarray] = []
    with StudioPipeline(cfg.models_dir, cfg.pipeline) as pipe:
        bgr = pipe.prepare(photo.bgr)
        ctx.photo = bgr
        analysis = pipe.analyse(bgr)
        ctx.report.notes += analysis.notes
        for style in STYLES:
            if style == "custom" and cfg.pipeline.custom_background is None:
                continue
            result = pipe.headshot(bgr, style=style, fmt="portrait", analysis=analysis)
            name = f"portrait-{style}.jpg"
            ctx.delivered[name] = _deliver(ctx, step, name, result.image, style)
            if style == cfg.pipeline.default_style:
                ctx.headshot = result.image
            thumbs.append(cv2.resize(result.image, (360, 450), interpolation=cv2.INTER_AREA))
        for fmt in FORMATS:
            if fmt == "portrait":
                continue
            result = pipe.headshot(bgr, style=cfg.pipeline.default_style, fmt=fmt, analysis=analysis)
            _deliver(ctx, step, f"{fmt}.jpg", result.image, cfg.pipeline.default_style)
    if ctx.headshot is None:
        ctx.headshot = cv2.resize(thumbs[0], (1200, 1500))
    _deliver(ctx, step, "contact-sheet.jpg", np.hstack(thumbs), "all styles")
    ctx.store.advance(ctx.session_id, Step.PROCESSED)
    step.detail = (f"{len(thumbs)} styles as portraits, {len(FORMATS) - 1} more formats "
                   f"({cfg.pipeline.default_style}), a contact sheet; kept in the session store too")


def _deliver(ctx: _Context, step: DemoStep, name: str, image: np.ndarray, what: str) -> bytes:
    """Encode a delivered JPEG (XMP disclosure, C2PA when configured), write it out and into the store."""
    data = encode_delivery(image, "edited", ctx.cfg.delivery.provenance, ctx.cfg.pipeline.jpeg_quality,
                           description=f"Studio headshot ({what}) by Headshot Kiosk", title=name)
    atomic_write_bytes(ctx.out_dir / name, data)
    ctx.store.write_file(ctx.session_id, "result", name, data)
    step.files.append(name)
    return data


# --- 2. kiosk session ------------------------------------------------------------------------------------


def _kiosk_session(ctx: _Context, step: DemoStep) -> None:
    from kiosk.app.assemble import Overrides, assemble, demo_devices
    from kiosk.app.headless import run_session

    out = ctx.out_dir / "kiosk-session"
    camera, lights = demo_devices(ctx.cfg)
    parts = assemble(ctx.cfg, Overrides(camera=camera, lights=lights, store=ctx.store, sweeper=False))
    controller = parts.controller

    def note_session(*_: object) -> None:
        if controller.session is not None:
            ctx.kiosk_sessions.add(controller.session.id)

    controller.flow.listen(note_session)
    controller.start()
    try:
        result = run_session(controller, out)
    finally:
        controller.flow.unlisten(note_session)
        parts.close()
    step.files = [p.relative_to(ctx.out_dir).as_posix() for p in sorted(out.rglob("*")) if p.is_file()]
    step.data = {"states": result.states, "start_to_processed_s": round(result.start_to_processed_s, 2)}
    step.detail = (f"virtual camera, simulated bridge, simulated taps: start tap to processing done in "
                   f"{result.start_to_processed_s:.1f} s; results in kiosk-session/")


# --- 3. bridge -------------------------------------------------------------------------------------------


def _bridge(ctx: _Context, step: DemoStep) -> None:
    try:
        import firmware_bridge.sim  # noqa: F401  # reason: only checking the simulator is installed
    except ImportError as err:
        raise StepSkipped(f"the firmware simulator is not installed ({err})") from err
    cmd = [sys.executable, "-m", "kiosk", "bridge", "selftest", "--port", BRIDGE_URL]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as err:
        raise KioskError("`kiosk bridge selftest --port sim://` did not finish within 60 s") from err
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        err_line = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise KioskError(f"`kiosk bridge selftest` printed no summary (exit {done.returncode}): {err_line}")
    summary = json.loads(lines[-1])
    atomic_write_bytes(ctx.out_dir / "bridge-selftest.json", (json.dumps(summary, indent=2) + "\n").encode())
    step.files = ["bridge-selftest.json"]
    step.data = {"ok": bool(summary.get("ok")), "firmware_id": summary.get("firmware_id"),
                 "failures": summary.get("failures", [])}
    if not summary.get("ok"):
        raise KioskError(f"bridge self-test failed: {'; '.join(summary.get('failures', []))}")
    rt = summary.get("round_trip_ms", {})
    step.detail = (f"{BRIDGE_URL}: firmware {summary.get('firmware_id')}, protocol {summary.get('protocol')}, "
                   f"{len(summary.get('lights', []))} light channels, {len(summary.get('scenes', {}))} scenes, "
                   f"lens LED, camera outputs, button round trip {summary.get('button_round_trip_ms')} ms, "
                   f"median command {rt.get('median')} ms")


# --- 4. printing -----------------------------------------------------------------------------------------


def _printing(ctx: _Context, step: DemoStep) -> None:
    from kiosk.delivery import cups_local
    from kiosk.delivery.layouts import get_layout
    from kiosk.delivery.printing import PrintService

    why = cups_local.unavailable_reason()
    if why:
        raise StepSkipped(f"no private CUPS here: {why}")
    assert ctx.headshot is not None  # reason: set by the studio step
    layout = get_layout(PRINT_LAYOUT)
    with tempfile.TemporaryDirectory(prefix="hk-demo-print-") as tmp, cups_local.LocalCups() as cups:
        cups.add_pdf_queue("demo")
        queue = f"{cups.tag}demo"
        pcfg = ctx.cfg.delivery.printing.model_copy(
            update={"server": str(cups.socket), "printer": queue, "poll_interval_ms": 100, "job_timeout_s": 60.0})
        # A private paper counter: the demo's sheet is not taken off the kiosk's real paper load.
        outcome = PrintService(pcfg, Path(tmp)).print(ctx.headshot, layout, 1)
        pdf = cups.wait_for_pdf(queue, outcome.job.job_id, timeout_s=30.0)
        shutil.copyfile(pdf, ctx.out_dir / "print-4x6.pdf")
    width, height = pdf_page_size(ctx.out_dir / "print-4x6.pdf")
    step.files = ["print-4x6.pdf"]
    step.data = {"layout": layout.name, "page_pt": [width, height], "queue": queue, "job": outcome.job.job_id,
                 "job_state": outcome.state.name.lower(), "dpi": outcome.job.dpi}
    step.detail = (f"{layout.description}: sent through a private cupsd to a cups-pdf queue at {outcome.job.dpi} dpi, "
                   f"job {outcome.state.name.lower()} in {outcome.elapsed_s:.1f} s; page "
                   f"{width / 72:.1f}×{height / 72:.1f} in; cupsd stopped")


def pdf_page_size(pdf: Path) -> tuple[float, float]:
    """Width and height of a PDF's first page, pt (pdfinfo when installed, else the MediaBox)."""
    if shutil.which("pdfinfo"):
        done = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=30, check=False)
        m = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", done.stdout)
        if m:
            return float(m.group(1)), float(m.group(2))
    m2 = re.search(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]", pdf.read_bytes())
    if not m2:
        raise KioskError(f"{pdf.name}: no page size found")
    x0, y0, x1, y1 = (float(v) for v in m2.groups())
    return x1 - x0, y1 - y0


# --- 5. phone download -----------------------------------------------------------------------------------


def _download(ctx: _Context, step: DemoStep) -> None:
    from kiosk.delivery.download import DownloadServer, qr_png

    dcfg = ctx.cfg.delivery.download.model_copy(update={"bind": ["127.0.0.1"], "port": 0, "public_url": None})
    server = DownloadServer(ctx.store, dcfg).start()
    try:
        _, url = server.publish_stored(ctx.session_id, list(ctx.delivered))  # references to the stored results
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
        with opener.open(url, timeout=10) as resp:
            status, page = resp.status, resp.read().decode("utf-8", errors="replace")
    finally:
        server.stop()
    missing = [name for name in ctx.delivered if name not in page]
    if status != 200 or missing:
        raise KioskError(f"the download page answered {status}; photos missing from it: {missing}")
    atomic_write_bytes(ctx.out_dir / "download-qr.png", qr_png(url))
    step.files = ["download-qr.png"]
    step.data = {"url": url, "http_status": status, "photos": list(ctx.delivered)}
    step.detail = (f"{url} served on 127.0.0.1 and fetched once (HTTP {status}, {len(ctx.delivered)} photos on "
                   f"the page); QR code in download-qr.png; server stopped")


# --- 6. provenance ---------------------------------------------------------------------------------------


def _provenance(ctx: _Context, step: DemoStep) -> None:
    from kiosk.delivery.provenance import SOURCE_LABELS, digital_source_type, inspect
    from kiosk.pipeline.imageio import read_jpeg_metadata

    jpegs = sorted(ctx.out_dir.rglob("*.jpg"))
    undeclared = [p.relative_to(ctx.out_dir).as_posix() for p in jpegs
                  if digital_source_type(read_jpeg_metadata(p.read_bytes()).get("xmp")) is None]
    name = f"portrait-{ctx.cfg.pipeline.default_style}.jpg"
    found = inspect(ctx.out_dir / name, ctx.cfg.delivery.provenance.c2pa_trust_anchors)
    declaration = found.to_dict()
    declaration["path"] = name
    step.data = {"file": name, "declaration": declaration, "jpegs": len(jpegs), "undeclared": undeclared}
    if undeclared:
        raise KioskError(f"{len(undeclared)} delivered JPEGs declare no source type: {', '.join(undeclared)}")
    c2pa = ("C2PA " + found.c2pa.validation_state) if found.c2pa else \
        "no C2PA manifest (set delivery.provenance.c2pa_cert_chain and c2pa_private_key to sign)"
    step.detail = (f"all {len(jpegs)} delivered JPEGs declare their source; {name}: XMP DigitalSourceType "
                   f"{found.xmp_source_type} ({SOURCE_LABELS.get(found.xmp_source_type or '', '?')}), "
                   f"colour profile {found.icc_profile}, {c2pa}")


# --- 7. generation ---------------------------------------------------------------------------------------


def _generation(ctx: _Context, step: DemoStep) -> None:
    from kiosk.commands.packs import build_hint

    gcfg = ctx.cfg.generation
    pack_dir = gcfg.resolved_pack_dir(ctx.cfg.models_dir)
    step.data = {"pack_dir": str(pack_dir), "generated": False}
    if not gcfg.enabled:
        raise StepSkipped("generation is disabled in the config (generation.enabled): the studio result is "
                          "delivered")
    if not (pack_dir / "manifest.json").exists():
        step.data["build_command"] = build_hint(pack_dir)
        raise StepSkipped(f"no model pack installed, the studio result is delivered: {build_hint(pack_dir)}")
    from kiosk.generation.local import LocalGenerator
    from kiosk.pipeline.generative import GenerativePipeline
    from models.diffusion.pack import read_manifest

    manifest = read_manifest(pack_dir)
    if gcfg.style not in manifest.styles:
        raise KioskError(f"generation.style {gcfg.style!r} is not in the pack "
                         f"(choose one of: {', '.join(manifest.styles)})")
    assert ctx.photo is not None  # reason: set by the studio step
    generator = LocalGenerator(pack_dir, gcfg.runtime)
    fmt = ctx.cfg.pipeline.default_format
    try:
        with StudioPipeline(ctx.cfg.models_dir, ctx.cfg.pipeline) as studio:
            pipe = GenerativePipeline(studio, generator)
            result = pipe.make(ctx.photo, style=gcfg.style, formats=[fmt], seed=gcfg.seed, steps=gcfg.steps,
                               strength=gcfg.strength)
    finally:
        generator.close()
    step.data.update(generated=result.generated, seed=result.seed, source_type=result.source_type,
                     fallback_reason=result.fallback_reason, model_id=manifest.model_id,
                     license=manifest.license,
                     gate=None if result.gate is None else result.gate.measures)
    if not result.generated:
        raise KioskError(f"{manifest.model_id}: {result.fallback_reason} (the studio result is delivered)")
    name = f"ai-{gcfg.style}.jpg"
    data = encode_delivery(result.image(fmt), result.source_type, ctx.cfg.delivery.provenance,
                           ctx.cfg.pipeline.jpeg_quality, description=result.description(fmt), title=name)
    atomic_write_bytes(ctx.out_dir / name, data)
    step.files = [name]
    step.detail = (f"{manifest.model_id} ({manifest.license}), style {gcfg.style}, seed {result.seed}, "
                   f"quality gate passed: {name} (declares AI content)")


# --- 8. privacy ------------------------------------------------------------------------------------------


def _privacy(ctx: _Context, step: DemoStep) -> None:
    from kiosk.session.retention import SESSION_KINDS

    store, sid = ctx.store, ctx.session_id
    before = store.files(sid)
    session_files = [f for f in before if f.kind in SESSION_KINDS]
    store.advance(sid, Step.DELIVERED)  # retention: the session-end files go now (delete_on_delivery)
    ended = [f for f in session_files if not f.path.exists()]
    pinned = [f for f in session_files if f.path.exists()]
    parts = [f"session end (retention.delete_on_delivery): {len(ended)} of {len(session_files)} capture and "
             f"result files deleted ({sum(f.size for f in ended) / 1e6:.1f} MB); {len(pinned)} results kept for "
             "the phone download's link"]
    # A link keeps the results it refers to until it expires (delivery.download.link_minutes) or is used up;
    # the demo's link dies with the demo, so they go now, the way an expired link's do.
    link_files = 0
    for other in (sid, *sorted(ctx.kiosk_sessions)):
        if not _live(store, other):
            continue
        for f in store.files(other):
            link_files += 1
            store.remove_file(other, f.kind, f.name)
        if _live(store, other):  # this config's retention keeps files past delivery: the demo keeps nothing
            store.delete(other)
    parts.append(f"the download links' {link_files} files (the results they kept, thumbnails, link records) "
                 "deleted with them")
    leftover = [other for other in ctx.kiosk_sessions if _live(store, other)]
    folder_left = any(store.session_dir(i).exists() for i in (sid, *ctx.kiosk_sessions))
    alive = _live(store, sid) or bool(leftover)
    step.data = {"session_files": len(session_files), "deleted_at_session_end": len(ended),
                 "kept_by_link": len(pinned), "link_files_deleted": link_files,
                 "session_deleted": not alive, "folder_left": folder_left}
    if alive or folder_left:
        raise KioskError("a demo session is still in the session store after deletion")
    parts.append("session records deleted: nothing of the guest is left in the store (the files in this folder "
                 "are the demo's deliverables)")
    step.detail = "; ".join(parts)


def _live(store: SessionStore, session_id: str) -> bool:
    try:
        store.get(session_id)
    except KioskError:
        return False
    return True
