"""Printer truth against a real, private cupsd: the guest reads the job's real state, staff get a cue.

The queues are real cups-pdf queues and the harness's "fault" queue whose backend reports an empty tray
the way a driver does (cups_harness.FAULT_BACKEND); the attendant cue goes through the real bridge client
to the simulated firmware (sim://), whose lens LED is read back.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cups_harness import CupsServer, running_cups  # reason: test helper beside this file

from kiosk.app.attention import Attention, print_line  # reason: after the helper path is set
from kiosk.delivery.ports import NoPrinter, PrintJobState  # reason: as above
from kiosk.delivery.printing import PrinterPort, PrintService  # reason: as above
from kiosk.delivery.printing_config import PrintingConfig  # reason: as above
from kiosk.lights import BridgeLights, LightsConfig, NoopLights  # reason: as above
from kiosk.status import Level  # reason: as above


def until(cond: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)  # polling a condition with a deadline
    return cond()


@pytest.fixture(scope="module")
def cups_server() -> Iterator[CupsServer]:
    with running_cups(["pdf"], {"paper": "media-empty-error"}) as server:
        yield server


def port(server: CupsServer, data: Path, queue: str, **kw: object) -> PrinterPort:
    cfg = PrintingConfig(server=str(server.socket), printer=queue, poll_interval_ms=50, **kw)  # type: ignore[arg-type]
    return PrinterPort(PrintService(cfg, data), layout="4x6")


def headshot(tmp_path: Path) -> Path:
    import numpy as np
    from PIL import Image

    path = tmp_path / "portrait.jpg"
    img = np.zeros((600, 400, 3), np.uint8)
    img[:, :, 1] = np.linspace(40, 220, 400, dtype=np.uint8)[None, :]
    Image.fromarray(img).save(path, quality=90)
    return path


def test_a_completed_job_reads_done_and_the_paper_count_restarts_on_screen(
    cups_server: CupsServer, tmp_path: Path
) -> None:
    p = port(cups_server, tmp_path / "data", f"{cups_server.tag}pdf", paper_capacity=12)
    assert p.job_state() is PrintJobState.NONE
    assert print_line(p, tapped=False, failed=False) is None  # a ready printer needs no explanation
    p.print_file(headshot(tmp_path))
    assert print_line(p, tapped=True, failed=False) in ("delivery.print_printing", "delivery.print_done")
    assert until(lambda: p.job_state() is PrintJobState.DONE), cups_server.log_tail()
    assert print_line(p, tapped=True, failed=False) == "delivery.print_done"
    assert p.paper_left() == 11
    assert p.paper_loaded() == "paper count restarted: 12 sheets" and p.paper_left() == 12
    p.new_session()
    assert p.job_state() is PrintJobState.NONE


def test_out_of_paper_tells_the_guest_the_next_guest_and_the_attendant(
    cups_server: CupsServer, tmp_path: Path
) -> None:
    from firmware_bridge.sim import start

    queue = f"{cups_server.tag}paper"
    p = port(cups_server, tmp_path / "data", queue, paper_capacity=50, job_timeout_s=120.0)
    url = "sim://printer-truth?wire=0"
    board = start(url)
    lights = BridgeLights(LightsConfig(port_url=url))
    clock = [0.0]
    attention = Attention(p, lights, clock=lambda: clock[0], every_s=1.0)
    try:
        attention.tick(attract=True)
        assert attention.problem is None, "a ready printer needs nobody"
        p.print_file(headshot(tmp_path))
        # The job is in CUPS; the printer reports its empty tray: the guest is told at once, not "printing".
        assert until(lambda: p.job_state() is PrintJobState.ATTENTION), cups_server.log_tail()
        assert print_line(p, tapped=True, failed=False) == "delivery.print_attention"
        # The next guest's Print button explains itself instead of vanishing.
        p.new_session()
        assert not p.available()
        assert print_line(p, tapped=False, failed=False) == "delivery.print_unavailable"
        # The attendant: the operator status is a coloured problem with its fix, the attract corner and the
        # bridge's lens LED say so (pulsing), and the cue stops when a guest starts.
        clock[0] += 2.0
        attention.tick(attract=True)
        assert attention.problem is not None and attention.problem.level is Level.FAIL
        assert "out-of-paper" in attention.problem and "load paper" in (attention.problem.fix or "")
        assert ("attendant", "on") in lights.calls
        assert until(lambda: board.snapshot().lens > 0, 10), board.snapshot()
        clock[0] += 0.5
        attention.tick(attract=False)
        assert lights.calls[-1] == ("attendant", "off")
        assert until(lambda: board.snapshot().lens == 0, 10), board.snapshot()
    finally:
        cups_server.lp("cancel", "-a", queue)
        lights.close()


def test_the_cue_is_sent_again_while_it_lasts_and_never_without_a_printer() -> None:
    lights = NoopLights()
    clock = [0.0]
    broken = Attention(NoPrinter(), lights, clock=lambda: clock[0], every_s=1.0, resend_s=60.0)
    for _ in range(5):
        clock[0] += 30.0
        broken.tick(attract=True)
    assert broken.problem is None and not [c for c in lights.calls if c[0] == "attendant"]
    assert print_line(NoPrinter(), tapped=False, failed=False) is None  # no printer: no button to explain
