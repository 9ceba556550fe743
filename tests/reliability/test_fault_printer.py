"""Printer faults mid-job against the private cupsd: the tray runs out of paper, the printer goes offline,
the operator pauses the queue. The job waits in CUPS, the guest's session ends normally (the QR download
still works), the next guest sees no print button, and once the cause clears the waiting job completes
by itself and printing comes back: nothing is lost.

The "tray" backend below plays a photo printer that reports a fault (`STATE: +reason`, as real drivers
do) until the attendant fixes it (a flag file appears), then takes the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kiosk_driver import finish_session, run_until, start_session

from kiosk.delivery.printing import JobState
from kiosk.session.flow import State

TRAY_BACKEND = """#!/bin/sh
# Test printer: reports a fault until its flag file exists, then accepts the job.
if [ $# -eq 0 ]; then
  echo 'direct hktray "Unknown" "Headshot Kiosk test printer with a fault that clears"'
  exit 0
fi
rest="${DEVICE_URI#hktray:/}"
reason="${rest%%/*}"
flag="/${rest#*/}"
while [ ! -e "$flag" ]; do
  echo "STATE: +$reason" >&2
  sleep 0.2
done
echo "STATE: -$reason" >&2
[ $# -ge 6 ] || cat > /dev/null
exit 0
"""


def tray_queue(cups: Any, name: str, reason: str) -> tuple[str, Path]:
    """A queue whose printer reports `reason` until the returned flag file is created."""
    backend = cups.root / "bin" / "backend" / "hktray"
    if not backend.exists():
        backend.write_text(TRAY_BACKEND)
        backend.chmod(0o755)
    flags = cups.root / "flags"
    flags.mkdir(exist_ok=True)
    flags.chmod(0o777)
    flag = flags / name
    queue = f"{cups.tag}{name}"
    cups.lp(
        "lpadmin", "-p", queue, "-E", "-v", f"hktray:/{reason}{flag}", "-P", "/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd"
    )
    return queue, flag


def deliver_and_print(c: Any) -> None:
    assert run_until(c, lambda: c.state is State.DELIVERY, 90), f"stuck in {c.state} ({c.flow.causes})"


def wait(cond: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)  # polling the printer with a deadline
    return False


@pytest.mark.parametrize(
    ("reason", "words"), [("media-empty-error", "paper"), ("offline-report", "offline")], ids=["paper", "offline"]
)
def test_fault_mid_job_holds_the_job_and_recovers_by_itself(
    cups: Any, make_kiosk: Callable[..., tuple[Any, Any]], reason: str, words: str
) -> None:
    queue, flag = tray_queue(cups, f"tray{words}", reason)
    kiosk, _ = make_kiosk(cups=(str(cups.socket), queue))
    c, printer = kiosk.controller, kiosk.printer
    assert printer.available()
    start_session(c)
    deliver_and_print(c)  # the soak's delivery hook scanned the QR and pressed print
    assert kiosk.prints == 1 and kiosk.downloads_ok == 1
    assert wait(lambda: not printer.available()), "the fault is seen once the printer reports it"
    assert words in printer.status().lower(), printer.status()
    assert words in c.device_status()["printer"].lower()
    finish_session(c)
    # The next guest: no print button while the printer is down, the phone download still works.
    start_session(c)
    deliver_and_print(c)
    assert kiosk.downloads_ok == 2
    assert c.print_message is None and kiosk.prints == 1, "no print button while the printer is down"
    kiosk.failures.clear()
    finish_session(c)
    # The attendant loads paper / switches the printer on: the held job prints, printing is back.
    flag.touch()
    assert printer.join(60), "the held job ended"
    outcomes = [o for o in printer.outcomes if not isinstance(o, BaseException)]
    assert [o.state for o in outcomes] == [JobState.COMPLETED], list(printer.outcomes)
    assert printer.paper_left() == 100_000 - 1
    assert wait(printer.available), printer.status()


def test_queue_paused_by_the_operator_hides_printing_until_resumed(
    cups: Any, make_kiosk: Callable[..., tuple[Any, Any]]
) -> None:
    queue = f"{cups.tag}rel"
    kiosk, _ = make_kiosk(cups=(str(cups.socket), queue))
    c, printer = kiosk.controller, kiosk.printer
    cups.lp("cupsdisable", queue)
    try:
        assert not printer.available() and "paused" in printer.status()
        start_session(c)
        deliver_and_print(c)
        assert kiosk.prints == 0 and c.print_message is None, "no print while paused"
        assert kiosk.downloads_ok == 1
        kiosk.failures.clear()
        finish_session(c)
    finally:
        cups.lp("cupsenable", queue)
    assert printer.available()
    start_session(c)
    deliver_and_print(c)
    finish_session(c)
    assert kiosk.prints == 1 and printer.join(60)
    assert printer.paper_left() == 100_000 - 1
