"""The golden frames bind both implementations: the host codec and the firmware core (run under CPython)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from firmware_bridge import codec, messages
from firmware_bridge.firmware import bridge_core, proto

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[2] / "firmware_bridge" / "spec" / "golden_frames.json").read_text()
)
FRAMES = GOLDEN["frames"]
BY_NAME = {cls.NAME: cls for cls in messages.MESSAGES.values()}


def _message(entry: dict) -> messages.Message:
    return BY_NAME[entry["type"]](**entry["fields"])


def test_every_message_type_has_a_golden_frame() -> None:
    assert {e["type"] for e in FRAMES} == set(BY_NAME)


def test_both_crc_implementations_match_the_standard_check_value() -> None:
    data = GOLDEN["crc_check"]["input_ascii"].encode()
    expected = int(GOLDEN["crc_check"]["crc16"], 16)
    assert codec.crc16(data) == expected == 0x29B1  # CRC-16/CCITT-FALSE check value
    assert bridge_core.crc16(data) == expected


@pytest.mark.parametrize("entry", FRAMES, ids=[e["name"] for e in FRAMES])
def test_host_codec_encodes_and_decodes_golden(entry: dict) -> None:
    wire = bytes.fromhex(entry["hex"])
    msg = _message(entry)
    assert codec.encode_frame(entry["seq"], msg) == wire
    frames = codec.Decoder().feed(wire)
    assert len(frames) == 1 and frames[0].seq == entry["seq"]
    assert codec.decode_message(frames[0]) == msg


@pytest.mark.parametrize("entry", FRAMES, ids=[e["name"] for e in FRAMES])
def test_firmware_frames_and_deframes_golden(entry: dict) -> None:
    wire = bytes.fromhex(entry["hex"])
    msg_type = getattr(proto, "T_" + entry["type"])
    values = []
    for name in BY_NAME[entry["type"]].FIELDS:
        value = entry["fields"][name]
        values.append(value.encode().ljust(16, b"\0") if isinstance(value, str) else value)
    payload = struct.pack(proto.FORMATS[msg_type], *values)
    assert bridge_core.build_frame(entry["seq"], msg_type, payload) == wire
    assert bridge_core.Deframer().feed(wire, 0) == [(entry["seq"], msg_type, payload)]


class _Recorder(bridge_core.Hardware):
    def __init__(self) -> None:
        self.out = bytearray()

    def write(self, data: bytes) -> None:
        self.out.extend(data)


def test_firmware_answers_golden_hello_with_golden_reply() -> None:
    hw = _Recorder()
    fw = bridge_core.Firmware(hw, 0xDEADBEEF, now_ms=0)
    hello = next(e for e in FRAMES if e["name"] == "hello")
    fw.feed(bytes.fromhex(hello["hex"]), 1)
    reply = next(e for e in FRAMES if e["name"] == "hello_reply")
    assert bytes(hw.out) == bytes.fromhex(reply["hex"])


def test_firmware_acks_golden_commands_with_golden_acks() -> None:
    hw = _Recorder()
    fw = bridge_core.Firmware(hw, 1, now_ms=0)
    fw.feed(bytes.fromhex(next(e for e in FRAMES if e["name"] == "hello")["hex"]), 1)
    hw.out.clear()
    fw.feed(bytes.fromhex(next(e for e in FRAMES if e["name"] == "set_light_mid")["hex"]), 2)
    assert bytes(hw.out) == bytes.fromhex(next(e for e in FRAMES if e["name"] == "ack_ok")["hex"])
    assert fw.channels[1].target == 500
