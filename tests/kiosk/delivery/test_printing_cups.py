"""Printing end to end against a real, private cupsd with cups-pdf queues: the PDF that comes out is checked.

cupsd, the cups-pdf backend, ghostscript and poppler are the real programs; the only stand-in is the
"fault" backend (cups_harness.FAULT_BACKEND) that plays a physical printer reporting a jam or an empty
tray, which cups-pdf cannot do.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cups_harness import CupsServer, running_cups  # reason: test helper beside this file
from test_printing_layouts import check_page, quadrant_headshot  # reason: shared checks

from kiosk.cli import main  # reason: after the helper path is set
from kiosk.delivery.layouts import get_layout  # reason: as above
from kiosk.delivery.printing import (  # reason: as above
    CopyAllowance,
    CopyLimitReached,
    JobState,
    PrinterMonitor,
    PrinterNotReady,
    PrinterState,
    PrinterStatus,
    PrinterUnreachable,
    PrintService,
    PrintTimeout,
)
from kiosk.delivery.printing_config import PrintingConfig  # reason: as above

PORTRAITS = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata" / "portraits"
FAULTS = {
    "paper": ("media-empty-error", PrinterState.OUT_OF_PAPER),
    "jam": ("media-jam-error", PrinterState.JAMMED),
    "ribbon": ("marker-supply-empty-error", PrinterState.OUT_OF_RIBBON),
    "off": ("offline-report", PrinterState.OFFLINE),
}


@pytest.fixture(scope="module")
def cups_server() -> Iterator[CupsServer]:
    with running_cups(["pdf", "spare", "watch"], {name: reason for name, (reason, _) in FAULTS.items()}) as server:
        yield server


@pytest.fixture
def pdf_queue(cups_server: CupsServer) -> str:
    return f"{cups_server.tag}pdf"


def service(
    server: CupsServer, data_dir: Path, seen: list[PrinterStatus] | None = None, **kw: object
) -> PrintService:
    cfg = PrintingConfig(server=str(server.socket), poll_interval_ms=50, **kw)  # type: ignore[arg-type]
    return PrintService(cfg, data_dir, on_status=None if seen is None else seen.append)


def pdf_pages(pdf: Path) -> tuple[int, tuple[float, float]]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert size, info
    return pages, (float(size.group(1)), float(size.group(2)))


def pdf_images(pdf: Path) -> list[dict[str, int]]:
    out = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = [r.split() for r in out.splitlines()[2:] if r.strip()]
    return [
        {"page": int(r[0]), "w": int(r[3]), "h": int(r[4]), "xppi": int(r[12]), "yppi": int(r[13])}
        for r in rows
    ]


def render_page(pdf: Path, dpi: int, tmp: Path, page: int = 1) -> np.ndarray:
    prefix = tmp / f"page{page}"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-f",
            str(page),
            "-l",
            str(page),
            "-png",
            "-singlefile",
            str(pdf),
            str(prefix),
        ],
        check=True,
        timeout=60,
    )
    return np.asarray(Image.open(f"{prefix}.png").convert("RGB"))


def test_discovery_lists_every_queue_with_its_state(cups_server: CupsServer, tmp_path: Path) -> None:
    found = {s.name: s for s in service(cups_server, tmp_path).printers()}
    assert f"{cups_server.tag}pdf" in found and f"{cups_server.tag}jam" in found
    assert found[f"{cups_server.tag}pdf"].state is PrinterState.READY
    # Several queues and no default: the kiosk asks for a choice rather than guessing.
    with pytest.raises(PrinterUnreachable, match="several printers and no default"):
        service(cups_server, tmp_path).resolve()
    with pytest.raises(PrinterUnreachable, match="no printer called 'nope'"):
        service(cups_server, tmp_path).resolve("nope")


def test_4x6_print_is_placed_sized_and_tracked(
    cups_server: CupsServer, pdf_queue: str, tmp_path: Path
) -> None:
    seen: list[PrinterStatus] = []
    svc = service(cups_server, tmp_path / "data", seen, printer=pdf_queue, paper_capacity=100)
    assert svc.dpi(pdf_queue) == 300  # from the queue's PPD (DefaultResolution 300dpi)
    outcome = svc.print(quadrant_headshot(), get_layout("4x6"), copies=1)
    assert outcome.state is JobState.COMPLETED
    assert outcome.paper is not None and outcome.paper.remaining == 99
    assert seen and seen[0].state is PrinterState.READY
    pdf = cups_server.wait_for_pdf(pdf_queue, outcome.job.job_id)
    pages, size = pdf_pages(pdf)
    assert pages == 1 and size == (432.0, 288.0)  # 6×4 in
    images = pdf_images(pdf)
    # One page-size raster at the printer's 300 dpi survived CUPS, ghostscript and cups-pdf unresampled.
    assert images == [{"page": 1, "w": 1800, "h": 1200, "xppi": 300, "yppi": 300}]
    check_page(render_page(pdf, 100, tmp_path), "4x6", 100)
    # The finished job was purged: no copy of the guest's print stays in CUPS.
    import cups

    conn = cups.Connection(host=str(cups_server.socket))
    assert outcome.job.job_id not in conn.getJobs(which_jobs="all")
    assert not any(p.name.startswith("d") for p in (cups_server.root / "spool").iterdir())


@pytest.mark.parametrize("name", ["badge", "wallet", "letter", "a4"])
def test_every_layout_prints_at_its_media_size(
    cups_server: CupsServer, pdf_queue: str, tmp_path: Path, name: str
) -> None:
    layout = get_layout(name)
    outcome = service(cups_server, tmp_path, printer=pdf_queue).print(quadrant_headshot(), layout)
    pdf = cups_server.wait_for_pdf(pdf_queue, outcome.job.job_id)
    pages, (w, h) = pdf_pages(pdf)
    assert pages == 1
    assert abs(w - layout.page_pt[0]) < 1.0 and abs(h - layout.page_pt[1]) < 1.0, (w, h)
    images = pdf_images(pdf)
    assert len(images) == 1 and (images[0]["xppi"], images[0]["yppi"]) == (300, 300)
    assert (images[0]["w"], images[0]["h"]) == layout.page_px(300)
    check_page(render_page(pdf, 72, tmp_path), name, 72)


def test_copies_print_as_pages_and_count_against_session_and_paper(
    cups_server: CupsServer, pdf_queue: str, tmp_path: Path
) -> None:
    svc = service(cups_server, tmp_path, printer=pdf_queue, paper_capacity=10)
    allowance = CopyAllowance(3)
    outcome = svc.print(quadrant_headshot(), get_layout("4x6"), copies=2, allowance=allowance)
    pdf = cups_server.wait_for_pdf(pdf_queue, outcome.job.job_id)
    assert pdf_pages(pdf)[0] == 2
    assert outcome.paper is not None and outcome.paper.remaining == 8
    assert allowance.remaining == 1
    jobs_before = set(cups_server.pdf_dirs[pdf_queue].iterdir())
    with pytest.raises(CopyLimitReached):
        svc.submit(quadrant_headshot(), get_layout("4x6"), copies=2, allowance=allowance)
    # Paper counter: only 8 sheets left, a 9-copy job is refused before anything reaches CUPS.
    with pytest.raises(PrinterNotReady, match="paper counter: 8 sheets left") as err:
        svc.submit(quadrant_headshot(), get_layout("4x6"), copies=9, allowance=CopyAllowance(20))
    assert err.value.status.state is PrinterState.OUT_OF_PAPER
    assert set(cups_server.pdf_dirs[pdf_queue].iterdir()) == jobs_before


def test_paused_and_rejecting_queues_are_not_ready(cups_server: CupsServer, tmp_path: Path) -> None:
    queue = f"{cups_server.tag}spare"
    svc = service(cups_server, tmp_path, printer=queue)
    cups_server.lp("cupsdisable", queue)
    try:
        status = svc.status()
        assert status.state is PrinterState.PAUSED and "paused" in status.reasons
        with pytest.raises(PrinterNotReady, match="paused"):
            svc.submit(quadrant_headshot(), get_layout("badge"))
    finally:
        cups_server.lp("cupsenable", queue)
    assert svc.status().state is PrinterState.READY
    cups_server.lp("cupsreject", queue)
    try:
        assert svc.status().state is PrinterState.NOT_ACCEPTING
    finally:
        cups_server.lp("cupsaccept", queue)
    assert svc.status().can_print


@pytest.mark.parametrize("fault", list(FAULTS))
def test_printer_faults_reach_the_session(cups_server: CupsServer, tmp_path: Path, fault: str) -> None:
    """A printer reporting a fault mid-job: cupsd carries the reason, the session hears the kiosk state."""
    reason, want = FAULTS[fault]
    queue = f"{cups_server.tag}{fault}"
    seen: list[PrinterStatus] = []
    svc = service(cups_server, tmp_path, seen, printer=queue, paper_capacity=10)
    job = svc.submit(quadrant_headshot(), get_layout("4x6"))
    try:
        deadline = time.monotonic() + 20
        while svc.status().state is not want and time.monotonic() < deadline:
            time.sleep(0.05)  # polling cupsd with a deadline
        assert svc.status().state is want, cups_server.log_tail()
        with pytest.raises(PrintTimeout, match=want.value) as err:
            svc.wait(job, timeout_s=0.5)
        assert err.value.status is not None and err.value.status.state is want
        assert reason in err.value.status.reasons
        assert any(s.state is want for s in seen), "the session was told"
        # The job was not counted as printed.
        assert svc.counter.level().printed == 0
        # And a new job is refused while the fault lasts.
        with pytest.raises(PrinterNotReady):
            svc.submit(quadrant_headshot(), get_layout("4x6"))
    finally:
        svc.cancel(job)


def test_monitor_reports_each_change_of_state(cups_server: CupsServer, tmp_path: Path) -> None:
    queue = f"{cups_server.tag}watch"
    seen: list[PrinterStatus] = []
    monitor = PrinterMonitor(
        service(cups_server, tmp_path), seen.append, interval_s=0.05, printer=queue
    ).start()

    def wait_for(state: PrinterState) -> None:
        deadline = time.monotonic() + 10
        while not (seen and seen[-1].state is state) and time.monotonic() < deadline:
            time.sleep(0.02)  # polling the callback log with a deadline
        assert seen and seen[-1].state is state, [s.state for s in seen]

    try:
        wait_for(PrinterState.READY)
        cups_server.lp("cupsdisable", queue)
        wait_for(PrinterState.PAUSED)
        cups_server.lp("cupsenable", queue)
        wait_for(PrinterState.READY)
    finally:
        monitor.stop()
        cups_server.lp("cupsenable", queue)
    # One report per change, not one per poll.
    assert [s.state for s in seen] == [PrinterState.READY, PrinterState.PAUSED, PrinterState.READY]


def test_monitor_reports_unreachable_cups_as_offline(tmp_path: Path) -> None:
    seen: list[PrinterStatus] = []
    svc = PrintService(PrintingConfig(server=str(tmp_path / "no.sock"), printer="dnp"), tmp_path)
    status = PrinterMonitor(svc, seen.append).poll()
    assert status.state is PrinterState.OFFLINE and "cannot reach CUPS" in status.message
    assert seen == [status] and status.name == "dnp"


def test_unreachable_cups_is_no_printer(tmp_path: Path) -> None:
    svc = PrintService(PrintingConfig(server=str(tmp_path / "no.sock")), tmp_path)
    with pytest.raises(PrinterUnreachable, match="cannot reach CUPS"):
        svc.status()


# --- the operator command -------------------------------------------------------------------------------


def write_config(tmp_path: Path, server: CupsServer, **printing: object) -> Path:
    lines = [
        f'data_dir = "{tmp_path / "data"}"',
        "[delivery.printing]",
        f'server = "{server.socket}"',
        "poll_interval_ms = 50",
    ]
    lines += [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in printing.items()]
    path = tmp_path / "kiosk.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def portrait() -> Path:
    path = PORTRAITS / "house_woman_elderly_glasses_01.jpg"
    if not path.exists():
        pytest.skip(f"test portraits not found at {PORTRAITS} (shared/testdata)")
    return path


def test_cli_prints_a_portrait(
    cups_server: CupsServer, pdf_queue: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, cups_server, printer=pdf_queue)
    code = main(["--config", str(cfg), "print", str(portrait()), "--layout", "badge", "--copies", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    m = re.search(r"printed 2 copies on (\S+) \(layout badge, job (\d+), 300 dpi", out)
    assert m and m.group(1) == pdf_queue, out
    assert "paper: 398 of 400 sheets left" in out
    pdf = cups_server.wait_for_pdf(pdf_queue, int(m.group(2)))
    pages, (w, h) = pdf_pages(pdf)
    assert pages == 2 and abs(w - 153.0) < 1 and abs(h - 242.6) < 1  # 53.98×85.6 mm
    # The photo is in the top cell, the band beneath it stays white paper.
    page = render_page(pdf, 72, tmp_path)
    cell = get_layout("badge").cells[0]
    photo = page[: round(cell.h * 72) - 2]
    band = page[round(cell.h * 72) + 2 :]
    assert photo.std() > 20 and band.min() >= 245
    assert main(["--config", str(cfg), "print", "--status"]) == 0
    status_out = capsys.readouterr().out
    assert f"{pdf_queue}: ready" in status_out and f"{cups_server.tag}jam" in status_out
    assert main(["--config", str(cfg), "print", "--paper-loaded", "50"]) == 0
    assert "50 sheets" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{missing}", "--layout", "4x6"], "no such file"),
        (["{portrait}", "--layout", "poster"], "unknown print layout 'poster'"),
        (["{portrait}", "--copies", "9"], "this session may print 4 more"),
        (["{portrait}", "--copies", "0"], "at least 1"),
        (["{portrait}", "--printer", "ghost"], "no printer called 'ghost'"),
        ([], "give a FILE to print"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    cups_server: CupsServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    cfg = write_config(tmp_path, cups_server)
    args = [a.format(missing=tmp_path / "nope.jpg", portrait=portrait()) for a in argv]
    code = main(["--config", str(cfg), "print", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_without_any_printer_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No CUPS at the configured address: the operator is told to start it, exit 2."""
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'data_dir = "{tmp_path}"\n[delivery.printing]\nserver = "{tmp_path / "none.sock"}"\n')
    img = tmp_path / "x.png"
    Image.fromarray(np.full((200, 160, 3), 128, np.uint8)).save(img)
    code = main(["--config", str(cfg), "print", str(img)])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach CUPS" in err and len(err.strip().splitlines()) == 1


def test_printer_port_for_the_delivery_screen(
    cups_server: CupsServer, pdf_queue: str, tmp_path: Path
) -> None:
    """The UI's Printer interface: print_file returns at once, a worker follows the job to the end."""
    from kiosk.delivery.printing import PrinterPort

    svc = service(cups_server, tmp_path / "data", printer=pdf_queue, paper_capacity=20, copies_per_session=3)
    port = PrinterPort(svc, layout="4x6")
    assert port.available() and port.paper_left() == 20
    assert "attendant" not in port.print_file(portrait(), copies=2)
    assert port.join(60), "the job was followed to its end"
    outcome = port.outcomes[-1]
    assert not isinstance(outcome, BaseException) and outcome.state is JobState.COMPLETED
    assert pdf_pages(cups_server.wait_for_pdf(pdf_queue, outcome.job.job_id))[0] == 2
    assert port.paper_left() == 18 and "ready" in port.status() and "paper 18/20" in port.status()
    with pytest.raises(CopyLimitReached):
        port.print_file(portrait(), copies=2)
    port.new_session()
    assert port.test_print().startswith("test print done")
    assert port.paper_left() == 17
    cups_server.lp("cupsdisable", pdf_queue)
    try:
        assert not port.available() and "paused" in port.status()
    finally:
        cups_server.lp("cupsenable", pdf_queue)
