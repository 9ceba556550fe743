"""Printer-state mapping, the paper counter and the per-session copy limit (no CUPS needed).

The reasons a cups-pdf queue cannot produce are tested here on the mapping function with the exact
printer-state-reasons strings that CUPS drivers report (RFC 8011 §5.4.12, PWG 5100.9); the ones the real
scheduler can produce are also tested through cupsd in test_printing_cups.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.config import parse_config
from kiosk.delivery.paper import CopyAllowance, CopyLimitReached, PaperCounter
from kiosk.delivery.printer_state import PrinterState, classify, split_reason
from kiosk.errors import ConfigError, InputError

IDLE, PROCESSING, STOPPED = 3, 4, 5


@pytest.mark.parametrize(
    ("reasons", "printer_state", "want"),
    [
        (["none"], IDLE, PrinterState.READY),
        (["none"], PROCESSING, PrinterState.PRINTING),
        (["media-empty-error"], PROCESSING, PrinterState.OUT_OF_PAPER),
        (["media-empty"], IDLE, PrinterState.OUT_OF_PAPER),  # a bare keyword is an error
        (["media-needed-error"], PROCESSING, PrinterState.OUT_OF_PAPER),
        (["input-tray-missing-error"], IDLE, PrinterState.OUT_OF_PAPER),
        (["media-jam-error"], STOPPED, PrinterState.JAMMED),
        (["media-jam"], PROCESSING, PrinterState.JAMMED),
        (["marker-supply-empty-error"], STOPPED, PrinterState.OUT_OF_RIBBON),
        (["toner-empty-error"], STOPPED, PrinterState.OUT_OF_RIBBON),
        (["door-open-error"], STOPPED, PrinterState.COVER_OPEN),
        (["cover-open-error"], IDLE, PrinterState.COVER_OPEN),
        (["offline-report"], IDLE, PrinterState.OFFLINE),
        (["offline-error"], IDLE, PrinterState.OFFLINE),
        (["shutdown-error"], STOPPED, PrinterState.OFFLINE),
        (["paused"], STOPPED, PrinterState.PAUSED),
        ([], STOPPED, PrinterState.PAUSED),
        (["other-error"], PROCESSING, PrinterState.ERROR),
        # A jam is more urgent than an empty tray, and both than the paused queue that follows them.
        (["paused", "media-empty-error", "media-jam-error"], STOPPED, PrinterState.JAMMED),
        (["paused", "offline-report"], STOPPED, PrinterState.OFFLINE),
        # Warnings and reports never stop printing.
        (["media-low-warning", "marker-supply-low-warning"], IDLE, PrinterState.READY),
        (["media-empty-warning"], IDLE, PrinterState.READY),
        (["connecting-to-device"], PROCESSING, PrinterState.PRINTING),
        (["cups-waiting-for-job-completed"], PROCESSING, PrinterState.PRINTING),
        (["media-empty-report"], IDLE, PrinterState.READY),
    ],
)
def test_state_reasons_map_to_kiosk_states(
    reasons: list[str], printer_state: int, want: PrinterState
) -> None:
    status = classify("dnp", printer_state, reasons, "printer message")
    assert status.state is want
    assert status.can_print == (want in (PrinterState.READY, PrinterState.PRINTING))


def test_warnings_are_kept_for_the_operator() -> None:
    status = classify("dnp", IDLE, ["media-low-warning", "none"])
    assert status.state is PrinterState.READY
    assert status.warnings == ("media-low",)
    assert "warnings: media-low" in status.describe()


def test_not_accepting_queue_cannot_print() -> None:
    status = classify("dnp", IDLE, ["none"], accepting=False)
    assert status.state is PrinterState.NOT_ACCEPTING and not status.can_print
    assert "cupsaccept dnp" in status.describe()


def test_split_reason() -> None:
    assert split_reason("media-empty-error") == ("media-empty", "error")
    assert split_reason("media-low-warning") == ("media-low", "warning")
    assert split_reason("offline-report") == ("offline", "report")
    assert split_reason("media-jam") == ("media-jam", "error")


def test_every_state_has_texts() -> None:
    for state in PrinterState:
        assert state.operator_text and state.guest_text
        # The guest is never told about jams or paper: only that the attendant will help.
        if not state.can_print:
            assert "attendant" in state.guest_text


@given(st.lists(st.text(min_size=0, max_size=40), max_size=8), st.integers(min_value=0, max_value=9))
def test_classify_never_fails_on_odd_input(reasons: list[str], printer_state: int) -> None:
    assert isinstance(classify("p", printer_state, reasons).state, PrinterState)


def test_paper_counter_persists_atomically(tmp_path: Path) -> None:
    path = tmp_path / "printing" / "paper.json"
    counter = PaperCounter(path, capacity=50)
    assert counter.level().remaining == 50 and not path.exists()
    counter.consume(3)
    counter.consume(2)
    # A new counter (a restarted kiosk) reads what was saved.
    again = PaperCounter(path, capacity=50)
    assert again.level().printed == 5 and again.level().remaining == 45
    assert json.loads(path.read_text()) == {"version": 1, "capacity": 50, "printed": 5}
    assert [p.name for p in path.parent.iterdir()] == ["paper.json"], "no temp files left behind"
    assert again.reload(capacity=120).remaining == 120
    assert PaperCounter(path, capacity=50).level().capacity == 120
    again.consume(500)
    assert again.level().remaining == 0


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{",
        "[]",
        '{"capacity": 10}',
        '{"capacity": 0, "printed": 0}',
        '{"capacity": 5, "printed": -1}',
        '{"capacity": "5", "printed": 1}',
        '{"capacity": true, "printed": 1}',
    ],
)
def test_damaged_paper_counter_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "paper.json"
    path.write_text(content)
    with pytest.raises(InputError, match=r"paper counter.*kiosk print --paper-loaded"):
        PaperCounter(path, 10).level()


def test_paper_reload_bounds(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"1..100000"):
        PaperCounter(tmp_path / "p.json", 10).reload(0)


def test_copy_allowance() -> None:
    allowance = CopyAllowance(3)
    allowance.take(2)
    assert allowance.remaining == 1
    with pytest.raises(CopyLimitReached, match=r"2 copies asked, but this session may print 1 more"):
        allowance.take(2)
    assert allowance.used == 2, "a refused request uses nothing"
    allowance.take(1)
    assert allowance.remaining == 0
    with pytest.raises(InputError, match=r"at least 1"):
        CopyAllowance(3).check(0)


def test_printing_config_section() -> None:
    cfg = parse_config({"delivery": {"printing": {"printer": "dnp", "copies_per_session": 2}}})
    assert cfg.delivery.printing.printer == "dnp"
    assert cfg.delivery.printing.copies_per_session == 2
    with pytest.raises(ConfigError, match=r"delivery.printing.default_layout"):
        parse_config({"delivery": {"printing": {"default_layout": "poster"}}})
    with pytest.raises(ConfigError, match=r"delivery.printing.copies_per_session"):
        parse_config({"delivery": {"printing": {"copies_per_session": 0}}})
    with pytest.raises(ConfigError, match=r"unknown key 'delivery.printing.colour'"):
        parse_config({"delivery": {"printing": {"colour": True}}})


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unreadable_counter_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    path.mkdir()  # a folder where the file should be: reading fails with OSError
    with pytest.raises(InputError, match=r"cannot read the paper counter"):
        PaperCounter(path, 10).level()
