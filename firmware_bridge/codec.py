"""Frames and messages on the wire: encode, and decode a byte stream with resynchronisation.

Frame: ``A5 5A | len u8 | seq u8 | type u8 | payload (len bytes) | CRC-16/CCITT-FALSE u16 LE`` over
len..payload. See PROTOCOL.md; the firmware has its own implementation (firmware/bridge_core.py) and
both are checked against the same golden frames.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, fields

from firmware_bridge.errors import FrameError, InvalidCommand
from firmware_bridge.messages import MAX_PAYLOAD, MESSAGES, SOF, Message

HEADER = 5
OVERHEAD = HEADER + 2
MAX_FRAME = OVERHEAD + MAX_PAYLOAD


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF)."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True)
class Frame:
    """A CRC-checked frame whose payload is not interpreted yet."""

    seq: int
    type: int
    payload: bytes


def encode_payload(msg: Message) -> bytes:
    """Pack a message's fields, checking each against the spec's limits; raise InvalidCommand."""
    values: list[object] = []
    for name, limits in zip(msg.FIELDS, msg.LIMITS, strict=True):
        value = getattr(msg, name)
        if limits is None:
            raw = str(value).encode("ascii", "replace")[:16]
            values.append(raw.ljust(16, b"\0"))
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidCommand(f"{msg.NAME}.{name} must be an integer, got {value!r}")
        if not limits[0] <= value <= limits[1]:
            raise InvalidCommand(f"{msg.NAME}.{name}={value} is outside {limits[0]}..{limits[1]}")
        values.append(value)
    return struct.pack(msg.FORMAT, *values)


def encode_frame(seq: int, msg: Message) -> bytes:
    """One complete frame for a message."""
    if not 0 <= seq <= 255:
        raise InvalidCommand(f"sequence number {seq} is outside 0..255")
    payload = encode_payload(msg)
    body = bytes((len(payload), seq, msg.TYPE)) + payload
    return SOF + body + crc16(body).to_bytes(2, "little")


def decode_message(frame: Frame) -> Message:
    """Interpret a frame's payload; raise FrameError on an unknown type, wrong length or bad field."""
    cls = MESSAGES.get(frame.type)
    if cls is None:
        raise FrameError(f"unknown message type {frame.type:#04x}")
    expected = struct.calcsize(cls.FORMAT)
    if len(frame.payload) != expected:
        raise FrameError(f"{cls.NAME}: payload of {len(frame.payload)} bytes, expected {expected}")
    raw = struct.unpack(cls.FORMAT, frame.payload) if expected else ()
    values: dict[str, object] = {}
    for name, limits, value in zip(cls.FIELDS, cls.LIMITS, raw, strict=True):
        if limits is None:
            text = bytes(value).rstrip(b"\0")
            if not all(32 <= b < 127 for b in text):
                raise FrameError(f"{cls.NAME}.{name}: not printable ASCII")
            values[name] = text.decode("ascii")
        elif not limits[0] <= value <= limits[1]:
            raise FrameError(f"{cls.NAME}.{name}={value} is outside {limits[0]}..{limits[1]}")
        else:
            values[name] = value
    return cls(**values)


def message_dict(msg: Message) -> dict[str, object]:
    """A message's fields as a plain dict (for JSON and logs)."""
    return {f.name: getattr(msg, f.name) for f in fields(msg)}  # type: ignore[arg-type]  # reason: always a dataclass


class Decoder:
    """Incremental frame decoder: feed bytes, get CRC-valid frames; garbage is skipped and counted.

    A bad CRC or an absurd length drops one byte and rescans, so a real frame hidden behind a false
    start is still found. A partial frame left without new bytes for FRAME_GAP_MS is abandoned by
    `expire()`, so a false header at the end of a burst cannot stall the stream.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bad_frames = 0
        self.garbage_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes held back as a possible partial frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray) -> list[Frame]:
        """Append bytes; return the complete frames now available."""
        self._buf.extend(data)
        return self._scan()

    def expire(self) -> list[Frame]:
        """Give up on the pending partial frame (call after FRAME_GAP_MS of silence); rescan after it."""
        if not self._buf:
            return []
        self.bad_frames += 1
        del self._buf[0]
        return self._scan()

    def _scan(self) -> list[Frame]:
        frames: list[Frame] = []
        buf = self._buf
        while True:
            start = buf.find(SOF)
            if start < 0:
                keep = 1 if buf and buf[-1] == SOF[0] else 0
                self.garbage_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                return frames
            if start:
                self.garbage_bytes += start
                del buf[:start]
            if len(buf) < HEADER:
                return frames
            length = buf[2]
            if length > MAX_PAYLOAD:
                self.bad_frames += 1
                self.garbage_bytes += 1
                del buf[0]
                continue
            total = OVERHEAD + length
            if len(buf) < total:
                return frames
            if crc16(memoryview(buf)[2 : total - 2]) != int.from_bytes(buf[total - 2 : total], "little"):
                self.bad_frames += 1
                self.garbage_bytes += 1
                del buf[0]
                continue
            frames.append(Frame(buf[3], buf[4], bytes(buf[HEADER : total - 2])))
            del buf[:total]
