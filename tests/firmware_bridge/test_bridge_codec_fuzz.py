"""Property tests of both decoders: garbage never raises or stalls, valid frames after garbage decode."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import codec, messages
from firmware_bridge.errors import FrameError
from firmware_bridge.firmware import bridge_core

FUZZ = settings(max_examples=150, deadline=None)
VALID = [
    codec.encode_frame(7, messages.SetLightMsg(1, 500, 0, 250, 60000)),
    codec.encode_frame(0, messages.HeartbeatMsg()),
    codec.encode_frame(3, messages.EventMsg(9, 1, 0, 0, 12, 0)),
    codec.encode_frame(200, messages.StatusMsg(1, 2, 3, 0, 4, 5, 6, 7, 1, 0, 0)),
]


def _drain_host(decoder: codec.Decoder, data: bytes) -> list[codec.Frame]:
    frames = decoder.feed(data)
    for _ in range(codec.MAX_FRAME + 1):  # one expire() per byte at most: the decoder cannot stall
        if not decoder.pending:
            break
        frames += decoder.expire()
    assert decoder.pending == 0
    return frames


def _drain_firmware(deframer: bridge_core.Deframer, data: bytes) -> list[tuple[int, int, bytes]]:
    frames = deframer.feed(data, 0)
    now = 0
    for _ in range(codec.MAX_FRAME + 1):
        if not deframer.buf:
            break
        now += 1000
        frames += deframer.expire(now)
    assert not deframer.buf
    return frames


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    for frame in _drain_host(codec.Decoder(), data):
        # a random frame may pass the CRC and still be refused by type, length or range
        with contextlib.suppress(FrameError):
            codec.decode_message(frame)
    _drain_firmware(bridge_core.Deframer(), data)


@FUZZ
@given(st.binary(max_size=120), st.sampled_from(VALID), st.binary(max_size=40), st.integers(1, 17))
def test_valid_frame_after_garbage_still_decodes(
    garbage: bytes, frame: bytes, tail: bytes, chunk: int
) -> None:
    host = codec.Decoder()
    stream = garbage + frame
    found: list[codec.Frame] = []
    for i in range(0, len(stream), chunk):  # arrives in pieces, as from a serial port
        found += host.feed(stream[i : i + chunk])
    found += _drain_host(host, tail)
    wire = [codec.encode_frame(f.seq, codec.decode_message(f)) for f in found if f.type in messages.MESSAGES]
    assert frame in wire
    fw = _drain_firmware(bridge_core.Deframer(), stream + tail)
    assert (frame[3], frame[4], frame[5:-2]) in fw


@FUZZ
@given(st.sampled_from(VALID), st.integers(0, 200), st.integers(0, 7))
def test_corrupted_frame_is_rejected_then_next_decodes(frame: bytes, pos: int, bit: int) -> None:
    bad = bytearray(frame)
    pos %= len(bad)
    bad[pos] ^= 1 << bit
    decoder = codec.Decoder()
    good = VALID[1] if frame != VALID[1] else VALID[0]
    frames = _drain_host(decoder, bytes(bad) + good)
    assert codec.Frame(good[3], good[4], good[5:-2]) in frames
    assert all((f.seq, f.type, f.payload) != (frame[3], frame[4], frame[5:-2]) for f in frames if pos >= 2)


@pytest.mark.parametrize("length", [codec.MAX_PAYLOAD + 1, 200, 255])
def test_absurd_length_is_skipped_at_once(length: int) -> None:
    decoder = codec.Decoder()
    frames = decoder.feed(bytes((0xA5, 0x5A, length, 1, 0x10)) + VALID[0])
    assert [codec.decode_message(f) for f in frames] == [messages.SetLightMsg(1, 500, 0, 250, 60000)]
    assert decoder.bad_frames == 1


def test_truncated_frame_is_abandoned_after_gap() -> None:
    decoder = codec.Decoder()
    assert decoder.feed(VALID[0][:-3]) == []
    assert decoder.pending
    frames = _drain_host(decoder, VALID[1])
    assert codec.Frame(0, messages.HeartbeatMsg.TYPE, b"") in frames


def test_decode_message_refuses_bad_payloads() -> None:
    with pytest.raises(FrameError, match="unknown message type"):
        codec.decode_message(codec.Frame(1, 0x7F, b""))
    with pytest.raises(FrameError, match="expected 1"):
        codec.decode_message(codec.Frame(1, messages.AckMsg.TYPE, b"\0\0"))
    with pytest.raises(FrameError, match="outside"):
        codec.decode_message(codec.Frame(1, messages.AckMsg.TYPE, b"\x09"))
