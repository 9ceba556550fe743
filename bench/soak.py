"""Soak: N guest sessions end to end, headless, checking that nothing fails, leaks or is left behind.

Each session runs through the real kiosk controller and state machine (kiosk.app.headless.run_session taps
through every screen as soon as it appears): the virtual camera playing the bundled portrait, framing on
MediaPipe, auto-capture, the lights and lens cue through the bridge simulator on a pseudo-terminal, the
real studio pipeline, the session store (the one home of guest files, journaled), the QR download
server (the page is fetched over HTTP on loopback), one print per session on a CUPS cups-pdf queue
(followed to completion by the paper counter), and retention (the store must be empty afterwards).

Reported (JSON): sessions, failures (with the first few reasons), sessions/min, RSS / open descriptors /
threads at start (after `--warmup` sessions, when every lazy part is loaded) and at the end, their
growth, prints completed, and a floor: the time of one JPEG decode+encode of the capture, with the
session time's ratio to it.

CUPS: `--cups-server SOCKET --printer QUEUE` uses a running server (a local cupsd with a cups-pdf queue:
`lpadmin -p soak -E -v cups-pdf:/ -m lsb/usr/cups-pdf/CUPS-PDF_opt.ppd`); by default, as root with cups and
printer-driver-cups-pdf installed, a private cupsd is started from the test harness
(tests/kiosk/delivery/cups_harness.py); `--no-print` skips printing.

Usage: python -m bench.soak N [--warmup 5] [--out FILE.json] [--cups-server S --printer Q | --no-print]
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.session.journal import Step

REPO = Path(__file__).resolve().parents[1]


def rss_kib() -> int:
    """Resident set size of this process, KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def os_threads() -> int:
    """Threads of this process as the kernel counts them (Python threads and native ones)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return threading.active_count()


TRANSIENT = ("print-job-", "Thread-")  # a print job being followed; an HTTP request being served


def sample(kiosk: Kiosk | None = None, settle_s: float = 10.0) -> dict[str, int]:
    """RSS, descriptors and threads once transient work has ended (print jobs, HTTP requests), after a GC."""
    if kiosk is not None and hasattr(kiosk.printer, "join"):
        kiosk.printer.join(120)
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline and any(t.name.startswith(TRANSIENT) for t in threading.enumerate()):
        time.sleep(0.02)  # polling for transient threads to end, with a deadline
    gc.collect()
    return {"rss_kib": rss_kib(), "fds": open_fds(), "threads": os_threads(), "py_threads": threading.active_count()}


@contextmanager
def private_cups() -> Iterator[tuple[str, str, Path]]:
    """A private cupsd with one cups-pdf queue (the test harness); yields (socket, queue, pdf folder)."""
    sys.path.insert(0, str(REPO / "tests" / "kiosk" / "delivery"))
    from cups_harness import CupsServer, unavailable_reason

    why = unavailable_reason()
    if why:
        raise RuntimeError(f"cannot start a private CUPS: {why} (or pass --cups-server/--printer, or --no-print)")
    server = CupsServer()
    server.start()
    try:
        out = server.add_pdf_queue("soak")
        yield str(server.socket), f"{server.tag}soak", out
    finally:
        server.stop()


@dataclass
class Kiosk:
    """The parts of one headless kiosk."""

    cfg: Any
    parts: Any  # kiosk.app.assemble.KioskParts
    sim_url: str
    failures: list[str] = field(default_factory=list)
    prints: int = 0
    downloads_ok: int = 0

    @property
    def controller(self) -> Any:
        """The kiosk's controller."""
        return self.parts.controller

    @property
    def store(self) -> Any:
        """The session store."""
        return self.parts.store

    @property
    def printer(self) -> Any:
        """The print port."""
        return self.parts.printer

    def close(self) -> None:
        """Stop every thread and release every port."""
        self.controller.stop()
        # Release the pipeline's MediaPipe graphs here, not in a garbage collection on another thread:
        # a graph closed from __del__ during GC can deadlock on MediaPipe's dispatcher.
        processor = getattr(self.controller.worker, "processor", None)
        pipe = getattr(processor, "_pipe", None)
        if pipe is not None:
            pipe.close()
            processor._pipe = None  # type: ignore[union-attr]  # reason: StudioProcessor's lazy pipeline
        if hasattr(self.printer, "join"):
            self.printer.join(120)
        self.parts.close()
        try:
            from firmware_bridge.sim import get_sim

            get_sim(self.sim_url).close()
        except (ImportError, KeyError):
            pass


def build_kiosk(
    data_dir: Path,
    cups: tuple[str, str] | None,
    *,
    capture_px: tuple[int, int] = (640, 480),
    fmt: str = "badge",
    clock: Callable[[], float] = time.monotonic,
    sim_name: str = "soak",
    paper: int = 100_000,
) -> Kiosk:
    """A controller over real parts (see the module docstring), data in data_dir."""
    from firmware_bridge.sim import start
    from kiosk.app.assemble import Overrides, assemble
    from kiosk.camera.config import VirtualCameraConfig
    from kiosk.camera.virtual import VirtualCamera, demo_portrait_path
    from kiosk.config import default_data_dir, parse_config
    from kiosk.lights import BridgeLights

    models = default_data_dir() / "models"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "models").exists():
        (data_dir / "models").symlink_to(models, target_is_directory=True)
    sim_url = f"sim://{sim_name}?wire=0"
    start(sim_url)
    printing: dict[str, Any] = {
        "default_layout": "badge",
        "paper_capacity": paper,
        "copies_per_session": 1,
        "poll_interval_ms": 100,
    }
    if cups is not None:
        printing.update(server=cups[0], printer=cups[1])
    else:
        printing.update(server=str(data_dir / "no-cups.sock"))  # printing off: nothing listens there
    cfg = parse_config(
        {
            "data_dir": str(data_dir),
            "camera": {"backend": "virtual", "width": capture_px[0], "height": capture_px[1], "fps": 30},
            "ui": {"stillness_s": 0.2, "countdown_s": 1, "formats": [fmt], "styles": ["studio-grey"]},
            "lights": {"port_url": sim_url},
            "generation": {"enabled": False},
            "delivery": {"download": {"port": 0, "rate_per_minute": 10000}, "printing": printing},
        }
    )
    camera = VirtualCamera(
        VirtualCameraConfig(source=demo_portrait_path(), width=capture_px[0], height=capture_px[1], fps=30, motion=0.5)
    )
    parts = assemble(cfg, Overrides(camera=camera, lights=BridgeLights(cfg.lights), clock=clock))
    controller = parts.controller
    kiosk = Kiosk(cfg, parts, sim_url)

    from kiosk.session.flow import State

    def on_delivery(_old: State, new: State, _reason: str) -> None:
        # What a guest does on the delivery screen: scan the QR code (fetch the page) and press print.
        if new is not State.DELIVERY:
            return
        url = controller.download_url
        if url is None:
            kiosk.failures.append("no download link on the delivery screen")
        else:
            status = _get(url)
            if status == 200:
                kiosk.downloads_ok += 1
            else:
                kiosk.failures.append(f"download page answered {status}")
        if cups is not None:
            controller.tap("print")
            if controller.print_message in (None, "error"):
                kiosk.failures.append(f"print refused: {controller.printer.status()}")
            else:
                kiosk.prints += 1

    controller.flow.listen(on_delivery)
    controller.start()
    return kiosk


def _get(url: str) -> int:
    hostport, _, path = url.split("://", 1)[1].partition("/")
    host, _, port = hostport.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", "/" + path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def one_session(kiosk: Kiosk, timeout_s: float = 120.0) -> str | None:
    """Run one session; None when it went through, else why not."""
    from kiosk.app.headless import DemoSessionError, run_session

    c = kiosk.controller
    listeners = list(c.flow._listeners)
    failsafe = c.flow.counters["failsafe"]
    before = len(kiosk.failures)
    try:
        run = run_session(c, None, timeout_s=timeout_s, manual_after_s=10.0)
    except DemoSessionError as err:
        return str(err)
    finally:
        # run_session adds a listener per call and never removes it: keep the soak's process honest.
        c.flow._listeners[:] = listeners
    if c.flow.counters["failsafe"] != failsafe:
        return "failsafe during the session"
    if len(kiosk.failures) != before:
        return kiosk.failures[-1]
    if not any("delivery" in s for s in run.states):
        return "the session never reached the delivery screen"
    return None


def jpeg_floor_ms(capture_px: tuple[int, int], repeat: int = 20) -> float:
    """Median time of one JPEG decode+encode of a capture-sized frame, ms (the floor of a session)."""
    from kiosk.camera.virtual import demo_portrait_path, fit_into

    img = cv2.imread(str(demo_portrait_path()), cv2.IMREAD_COLOR)
    assert img is not None, "the bundled demo portrait is readable"
    frame = fit_into(img, *capture_px)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        assert dec is not None
        cv2.imencode(".jpg", dec, [cv2.IMWRITE_JPEG_QUALITY, 92])
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


def run_soak(
    n: int,
    work: Path,
    cups: tuple[str, str] | None,
    *,
    warmup: int = 5,
    capture_px: tuple[int, int] = (640, 480),
    fmt: str = "badge",
    progress: Callable[[int, str | None, dict[str, int] | None], None] | None = None,
) -> dict[str, Any]:
    """Run n sessions (the first `warmup` of them before the start sample); the report as a dict.

    progress(i, why, stats) is called after each session: why is the failure or None; stats (RSS,
    descriptors, threads, failures so far) every 50 sessions, else None.
    """
    kiosk = build_kiosk(work / "data", cups, capture_px=capture_px, fmt=fmt)
    failures: list[str] = []
    base: dict[str, int] = {}
    t_start = time.monotonic()
    try:
        for i in range(n):
            if i == min(warmup, n - 1):
                base = sample(kiosk)
                t_start = time.monotonic()
            why = one_session(kiosk)
            if why is not None:
                failures.append(f"session {i + 1}: {why}")
                if kiosk.controller.state.value != "attract":  # let the kiosk recover before the next one
                    kiosk.controller.tap("cancel")
            if progress is not None:
                every = (i + 1) % 50 == 0
                progress(i + 1, why, {**sample(kiosk), "failures": len(failures)} if every else None)
        elapsed = time.monotonic() - t_start
        measured = n - min(warmup, n - 1)
        printed_ok = True
        if cups is not None:
            printed_ok = kiosk.printer.join(300)
        end = sample(kiosk)
        # Phone-download copies outlive their sessions until the link expires (keep_after_session);
        # a retention sweep as it would run once the last link has expired must then leave nothing.
        links_alive = len(kiosk.store.files_of_kind("download"))
        expiry = kiosk.cfg.delivery.download.link_minutes * 60.0 + 1.0
        kiosk.store.sweep(now=time.time() + expiry)
        stored = [p for p in kiosk.store.root.rglob("*") if p.is_file()]
        delivered = kiosk.store.journal.count_reached(Step.DELIVERED)
        paper_used = None
        if cups is not None:
            left = kiosk.printer.paper_left()
            paper_used = None if left is None else 100_000 - left
    finally:
        kiosk.close()
    if cups is not None and (not printed_ok or paper_used != kiosk.prints):
        failures.append(f"prints: {kiosk.prints} sent, {paper_used} completed (jobs all ended: {printed_ok})")
    if stored:
        failures.append(f"retention: {len(stored)} store files left")
    floor = jpeg_floor_ms(capture_px)
    per_session_ms = elapsed * 1000.0 / max(1, measured)
    return {
        "bench": "soak",
        "sessions": n,
        "download_copies_alive_at_end": links_alive,
        "warmup_sessions": min(warmup, n - 1),
        "failures": len(failures),
        "failure_reasons": failures[:10],
        "sessions_per_min": round(60.0 * measured / elapsed, 2) if elapsed > 0 else None,
        "session_ms_mean": round(per_session_ms, 1),
        "prints_completed": paper_used,
        "downloads_fetched": kiosk.downloads_ok,
        "journal_sessions_delivered": delivered,
        "start": base,
        "end": end,
        "rss_growth_pct": round(100.0 * (end["rss_kib"] - base["rss_kib"]) / base["rss_kib"], 2) if base else None,
        "fd_growth": end["fds"] - base["fds"] if base else None,
        "thread_growth": end["threads"] - base["threads"] if base else None,
        "capture_px": list(capture_px),
        "format": fmt,
        "floor": {"what": "one JPEG decode+encode of the capture", "ms": round(floor, 2)},
        "session_over_floor": round(per_session_ms / floor, 1),
        "note": "sessions run in real time: 1 s countdown, 0.2 s stillness, the guest taps at once",
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the soak, print the JSON report; exit 1 when a session failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("n", type=int, help="sessions to run")
    ap.add_argument("--warmup", type=int, default=5, help="sessions before the start sample")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--cups-server", help="a running CUPS server (socket path or host:port)")
    ap.add_argument("--printer", help="its cups-pdf queue")
    ap.add_argument("--no-print", action="store_true", help="skip printing")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args(argv)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    # `kill` (SIGTERM) unwinds like Ctrl-C: the private cupsd is stopped and the temporary folders removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    t0 = time.monotonic()

    def progress(i: int, why: str | None, now: dict[str, int] | None) -> None:
        if not args.quiet and (why or now):
            line = f"soak: {i}/{args.n} at {time.monotonic() - t0:.0f} s" + (f" FAILED: {why}" if why else "")
            print(line + (f" {json.dumps(now)}" if now else ""), file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="hk-soak-") as tmp:
        if args.no_print:
            report = run_soak(args.n, Path(tmp), None, warmup=args.warmup, progress=progress)
        elif args.cups_server and args.printer:
            report = run_soak(
                args.n, Path(tmp), (args.cups_server, args.printer), warmup=args.warmup, progress=progress
            )
        else:
            with private_cups() as (sock, queue, _pdfs):
                report = run_soak(args.n, Path(tmp), (sock, queue), warmup=args.warmup, progress=progress)
    text = json.dumps(report, indent=2)
    print(text)  # reason: the benchmark's JSON
    if args.out:
        args.out.write_text(text + "\n")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
