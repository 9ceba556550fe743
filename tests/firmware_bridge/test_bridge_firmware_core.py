"""The firmware's protocol and safety core under CPython with a hand-driven millisecond clock."""

from __future__ import annotations

from firmware_bridge import codec
from firmware_bridge import messages as M
from firmware_bridge.firmware import bridge_core, proto


class Board(bridge_core.Hardware):
    """Records outputs like the pins would show them."""

    def __init__(self) -> None:
        self.levels = [0, 0, 0, 0]
        self.camera = [False, False]
        self.lens = 0
        self.temp = 3000
        self.out = bytearray()

    def set_level(self, channel: int, level: int, cct_k: int) -> None:
        self.levels[channel] = level

    def set_camera(self, output: int, on: bool) -> None:
        self.camera[output] = on

    def set_lens(self, level: int) -> None:
        self.lens = level

    def temperature_cdeg(self) -> int:
        return self.temp

    def write(self, data: bytes) -> None:
        self.out.extend(data)

    def take(self) -> list[tuple[int, M.Message]]:
        frames = codec.Decoder().feed(bytes(self.out))
        self.out.clear()
        return [(f.seq, codec.decode_message(f)) for f in frames]


def linked(timeout_ms: int = 500, session: int = 1) -> tuple[bridge_core.Firmware, Board]:
    board = Board()
    fw = bridge_core.Firmware(board, 7, now_ms=0)
    fw.feed(codec.encode_frame(1, M.HelloMsg(1, 0, timeout_ms, session)), 0)
    assert isinstance(board.take()[0][1], M.HelloReplyMsg)
    return fw, board


def send(fw: bridge_core.Firmware, board: Board, seq: int, msg: M.Message, now: int) -> list:
    fw.feed(codec.encode_frame(seq, msg), now)
    return board.take()


def test_commands_before_handshake_are_refused_not_run() -> None:
    board = Board()
    fw = bridge_core.Firmware(board, 7, now_ms=0)
    assert send(fw, board, 5, M.SetLightMsg(0, 900, 0, 0, 1000), 1) == [(5, M.AckMsg(M.Result.NOT_READY))]
    assert board.levels == [0, 0, 0, 0]


def test_major_mismatch_is_answered_but_not_linked() -> None:
    board = Board()
    fw = bridge_core.Firmware(board, 7, now_ms=0, major=2)
    replies = send(fw, board, 1, M.HelloMsg(1, 0, 500, 1), 0)
    assert replies[0][1].major == 2 and not fw.linked


def test_fade_then_max_duration_returns_to_safe() -> None:
    fw, board = linked(timeout_ms=60000)
    assert send(fw, board, 2, M.SetLightMsg(0, 1000, 0, 100, 300), 0) == [(2, M.AckMsg(0))]
    fw.tick(50)
    assert board.levels[0] == 500  # halfway through the 100 ms fade
    fw.tick(100)
    assert board.levels[0] == 1000
    fw.tick(299)
    assert board.levels[0] == 1000
    fw.tick(300)
    assert board.levels[0] == 0 and fw.is_safe(300)
    assert fw.faults & proto.FAULT_MAX_DURATION


def test_heartbeat_loss_puts_every_output_in_safe_state_and_queues_an_event() -> None:
    fw, board = linked(timeout_ms=200)
    send(fw, board, 2, M.SceneMsg(M.Scene.FLASH, 0, 60000), 0)
    send(fw, board, 3, M.CameraMsg(0, 2000), 0)
    assert board.levels == list(M.SCENE_LEVELS[M.Scene.FLASH]) and board.lens == 1000 and board.camera[0]
    for now in range(0, 200, 50):
        fw.feed(codec.encode_frame(0, M.HeartbeatMsg()), now)
        fw.tick(now)
    assert not fw.is_safe(150)
    fw.tick(351)  # 201 ms after the last heartbeat at 150
    assert board.levels == [0, 0, 0, 0] and board.lens == 0 and board.camera == [False, False]
    assert fw.is_safe(351) and not fw.linked and fw.faults & proto.FAULT_HEARTBEAT_LOST
    assert fw.events[0][1:3] == [proto.EVENT_KIND_SAFE_STATE, proto.SAFE_REASON_HEARTBEAT_LOST]
    board.take()
    # after the loss the firmware refuses commands until a new handshake
    assert send(fw, board, 4, M.SetLightMsg(0, 500, 0, 0, 1000), 400) == [(4, M.AckMsg(M.Result.NOT_READY))]
    assert send(fw, board, 0, M.HeartbeatMsg(), 400) == [(0, M.AckMsg(M.Result.NOT_READY))]


def test_retransmitted_command_runs_once_and_gets_the_same_answer() -> None:
    fw, board = linked()
    first = send(fw, board, 9, M.CameraMsg(1, 100), 0)
    fw.tick(100)
    assert not board.camera[1]
    again = send(fw, board, 9, M.CameraMsg(1, 100), 101)
    assert first == again == [(9, M.AckMsg(0))]
    assert fw.executed == 1 and not board.camera[1]  # no second shutter pulse


def test_new_host_session_clears_duplicate_suppression() -> None:
    fw, board = linked(session=1)
    send(fw, board, 9, M.CameraMsg(1, 100), 0)
    send(fw, board, 1, M.HelloMsg(1, 0, 500, 2), 1)  # another host process, its seq starts anew
    send(fw, board, 9, M.CameraMsg(1, 100), 2)
    assert fw.executed == 2


def test_bad_values_are_refused() -> None:
    fw, board = linked()
    frame = bytearray(codec.encode_frame(2, M.SetLightMsg(0, 1000, 0, 0, 10)))
    payload = bytearray(frame[5:-2])
    payload[1:3] = (1001).to_bytes(2, "little")  # level 1001 is out of range
    raw = bridge_core.build_frame(2, proto.T_SET_LIGHT, bytes(payload))
    fw.feed(raw, 0)
    assert board.take() == [(2, M.AckMsg(M.Result.BAD_VALUE))]
    assert send(fw, board, 3, M.SetLightMsg(2, 10, 3000, 0, 10), 0) == [(3, M.AckMsg(M.Result.UNSUPPORTED))]
    fw.feed(bridge_core.build_frame(4, proto.T_CAMERA, b"\x01"), 0)
    assert board.take() == [(4, M.AckMsg(M.Result.BAD_LENGTH))]
    fw.feed(bridge_core.build_frame(5, 0x70, b""), 0)
    assert board.take() == [(5, M.AckMsg(M.Result.UNKNOWN_TYPE))]
    assert board.levels == [0, 0, 0, 0]


def test_events_are_repeated_until_acknowledged_and_overflow_is_reported() -> None:
    fw, board = linked(timeout_ms=60000)
    for _ in range(bridge_core.EVENT_QUEUE_MAX + 3):
        fw.button(M.Button.START, 0)
    fw.tick(10)
    lost = board.take()[0][1]
    assert isinstance(lost, M.EventMsg) and lost.kind == M.EventKind.EVENTS_LOST and lost.value == 3
    fw.tick(50)
    assert board.take() == []  # not yet time to repeat
    fw.tick(111)
    assert board.take()[0][1] == lost  # repeated, same id
    fw.feed(codec.encode_frame(0, M.EventAckMsg(lost.event_id)), 112)
    fw.tick(112)
    ids = []
    now = 112
    while fw.events:
        (_, event), = board.take()
        assert event.kind == M.EventKind.BUTTON
        ids.append(event.event_id)
        fw.feed(codec.encode_frame(0, M.EventAckMsg(event.event_id)), now)
        now += 1
        fw.tick(now)
    assert ids == list(range(4, 12))  # the oldest three were dropped and reported


def test_button_while_unlinked_waits_and_reports_its_age() -> None:
    board = Board()
    fw = bridge_core.Firmware(board, 7, now_ms=0)
    fw.button(M.Button.PRINT, 100)
    fw.tick(5000)
    assert board.take() == []
    fw.feed(codec.encode_frame(1, M.HelloMsg(1, 0, 500, 1)), 6000)
    fw.tick(6000)
    (_, event), = [r for r in board.take() if isinstance(r[1], M.EventMsg)]
    assert event.code == M.Button.PRINT and event.age_ms == 5900


def test_overtemperature_goes_safe() -> None:
    fw, board = linked(timeout_ms=60000)
    send(fw, board, 2, M.SetLightMsg(0, 800, 0, 0, 60000), 0)
    board.temp = 9000
    fw.tick(bridge_core.TEMP_CHECK_MS)
    assert board.levels[0] == 0 and fw.faults & proto.FAULT_OVERTEMP


def test_lens_patterns_and_status() -> None:
    fw, board = linked(timeout_ms=60000)
    send(fw, board, 2, M.LensCueMsg(M.LensPattern.BLINK, 1000), 0)
    fw.tick(100)
    on = board.lens
    fw.tick(300)
    assert {on, board.lens} == {0, 1000}
    (_, status), = send(fw, board, 3, M.StatusReqMsg(), 400)
    assert isinstance(status, M.StatusMsg) and status.lens == M.LensPattern.BLINK and status.safe == 0
    fw.tick(1000)
    assert board.lens == 0 and fw.is_safe(1000)


def test_garbage_between_frames_is_skipped_and_flagged() -> None:
    fw, board = linked(timeout_ms=60000)
    fw.feed(b"\xa5\x5a\xff\x00garbage\xa5" + codec.encode_frame(2, M.CameraMsg(0, 10)), 0)
    assert board.take() == [(2, M.AckMsg(0))]
    assert fw.faults & proto.FAULT_BAD_FRAMES
