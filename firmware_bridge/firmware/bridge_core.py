# The protocol and safety core of the Headshot Kiosk controller firmware.
#
# Pure logic: it runs unchanged under MicroPython on the RP2040 (main.py drives the pins) and under
# CPython behind a pseudo-terminal (firmware_bridge/sim.py). Keep it to the subset both share: no
# dataclasses, typing, enum or f-string format specs; time is passed in as integer milliseconds.
# The firmware owns safety: every light and lens command carries a maximum duration, and when the
# host's frames stop for longer than the handshake's timeout every output returns to its safe default.

import struct

try:
    from firmware_bridge.firmware import proto as P
except ImportError:  # on the board the files sit side by side in the root folder
    import proto as P  # type: ignore[no-redef]  # reason: MicroPython layout

FIRMWARE_ID = "hk-rp2040 1.0.0"
EVENT_QUEUE_MAX = 8
EVENT_RETRY_MS = 100
OVERTEMP_CDEG = 8500
TEMP_CHECK_MS = 1000
DEFAULT_HOST_TIMEOUT_MS = 1000
HEADER = 5  # SOF0 SOF1 LEN SEQ TYPE
OVERHEAD = HEADER + 2  # + CRC-16


def _make_crc_table():
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _make_crc_table()


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of data."""
    table = _CRC_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ byte) & 0xFF]
    return crc


def build_frame(seq, msg_type, payload):
    """One frame: SOF, length, sequence, type, payload, CRC-16 (little-endian)."""
    body = bytes((len(payload), seq & 0xFF, msg_type)) + bytes(payload)
    crc = crc16(body)
    return bytes((P.SOF0, P.SOF1)) + body + bytes((crc & 0xFF, crc >> 8))


class Deframer:
    """Byte stream to (seq, type, payload) frames with resynchronisation after garbage."""

    def __init__(self):
        self.buf = bytearray()
        self.partial_since = None
        self.bad_frames = 0

    def feed(self, data, now_ms):
        """Append bytes; return the list of complete, CRC-valid frames."""
        self.buf.extend(data)
        frames = self._scan()
        if self.buf and self.partial_since is None:
            self.partial_since = now_ms
        return frames

    def expire(self, now_ms):
        """Abandon a partial frame older than FRAME_GAP_MS (a false start); return frames found after it."""
        if not self.buf or self.partial_since is None:
            return []
        if now_ms - self.partial_since < P.FRAME_GAP_MS:
            return []
        self.bad_frames += 1
        self.buf = self.buf[1:]
        frames = self._scan()
        if self.buf:
            self.partial_since = now_ms
        return frames

    def _scan(self):
        # bytearray.find and slice deletion are optional in MicroPython builds: scan by hand, slice to copy
        frames = []
        while True:
            buf = self.buf
            size = len(buf)
            start = 0
            while start < size - 1 and not (buf[start] == P.SOF0 and buf[start + 1] == P.SOF1):
                start += 1
            if start:
                self.buf = buf = buf[start:]
                size -= start
            if size < HEADER:
                if size == 1 and buf[0] != P.SOF0:
                    self.buf = bytearray()
                break
            length = buf[2]
            if length > P.MAX_PAYLOAD:
                self.bad_frames += 1
                self.buf = buf[1:]
                continue
            total = OVERHEAD + length
            if size < total:
                break
            crc = buf[total - 2] | (buf[total - 1] << 8)
            if crc16(buf[2:total - 2]) != crc:
                self.bad_frames += 1
                self.buf = buf[1:]
                continue
            frames.append((buf[3], buf[4], bytes(buf[HEADER:total - 2])))
            self.buf = buf[total:]
        self.partial_since = None
        return frames


class Hardware:
    """What the core needs from a board; main.py drives pins, the simulator records."""

    def set_level(self, channel, level, cct_k):
        """Drive light channel (0..3) to level (0..1000) at colour temperature cct_k (K, 0 = as is)."""

    def set_camera(self, output, on):
        """Drive a camera remote output (0 focus, 1 shutter)."""

    def set_lens(self, level):
        """Drive the look-at-the-lens LED, 0..1000."""

    def temperature_cdeg(self):
        """Board temperature in 0.01 degC."""
        return 2500

    def write(self, data):
        """Send bytes to the host; may drop them when nobody listens (USB CDC does)."""


class Channel:
    """One light channel: a fade from one level to another and a deadline back to safe."""

    def __init__(self):
        self.start_level = P.SAFE_LEVEL
        self.target = P.SAFE_LEVEL
        self.fade_start = 0
        self.fade_ms = 0
        self.until = None
        self.cct_k = 0
        self.out = -1

    def level(self, now_ms):
        """Current level of the fade."""
        if self.fade_ms <= 0 or now_ms - self.fade_start >= self.fade_ms:
            return self.target
        done = now_ms - self.fade_start
        return self.start_level + (self.target - self.start_level) * done // self.fade_ms


class Firmware:
    """The protocol and safety state machine; feed it bytes and ticks with a millisecond clock."""

    def __init__(self, hw, boot_id, now_ms, light_channels=4, cct_mask=0b0011, buttons=3,
                 camera_outputs=0b11, major=P.PROTO_MAJOR, minor=P.PROTO_MINOR, firmware_id=FIRMWARE_ID):
        self.hw = hw
        self.boot_id = boot_id & 0xFFFFFFFF
        self.boot_ms = now_ms
        self.light_channels = light_channels
        self.cct_mask = cct_mask
        self.buttons = buttons
        self.camera_outputs = camera_outputs
        self.major = major
        self.minor = minor
        self.firmware_id = firmware_id
        self.capabilities = P.CAPABILITY_LENS_LED | P.CAPABILITY_TEMPERATURE | P.CAPABILITY_SELFTEST_BUTTON
        if cct_mask:
            self.capabilities |= P.CAPABILITY_CCT
        self.deframer = Deframer()
        self.linked = False
        self.host_timeout_ms = DEFAULT_HOST_TIMEOUT_MS
        self.last_rx_ms = now_ms
        self.session = None
        self.last_seq = 0
        self.last_reply = None
        self.channels = [Channel() for _ in range(light_channels)]
        self.camera_until = [None, None]
        self.lens_pattern = P.LENS_PATTERN_OFF
        self.lens_start = 0
        self.lens_until = None
        self.lens_out = -1
        self.events = []  # [event_id, kind, code, value, t_ms, flags]
        self.next_event_id = 1
        self.lost_total = 0
        self.lost_pending = 0
        self.lost_event = None  # [event_id, value] while an EVENTS_LOST report waits for its ack
        self.event_sent_ms = None
        self.faults = 0
        self.temp_checked_ms = now_ms
        self.executed = 0  # commands executed (not duplicates); read by tests
        self.safe_state(now_ms)

    # ------------------------------------------------------------------ inputs
    def feed(self, data, now_ms):
        """Bytes arrived from the host."""
        for seq, msg_type, payload in self.deframer.feed(data, now_ms):
            self._on_frame(seq, msg_type, payload, now_ms)
        if self.deframer.bad_frames:
            self.faults |= P.FAULT_BAD_FRAMES
            self.deframer.bad_frames = 0

    def button(self, button, now_ms, flags=0):
        """A (debounced) button press; queued until the host acknowledges it."""
        self._push_event(P.EVENT_KIND_BUTTON, button, 0, now_ms, flags)

    def tick(self, now_ms):
        """Advance timers: heartbeat watchdog, fades, deadlines, pulses, lens pattern, event resend."""
        for seq, msg_type, payload in self.deframer.expire(now_ms):
            self._on_frame(seq, msg_type, payload, now_ms)
        if self.linked and now_ms - self.last_rx_ms > self.host_timeout_ms:
            self.linked = False
            self.faults |= P.FAULT_HEARTBEAT_LOST
            self.safe_state(now_ms)
            self._push_event(P.EVENT_KIND_SAFE_STATE, P.SAFE_REASON_HEARTBEAT_LOST, 0, now_ms, 0)
        if now_ms - self.temp_checked_ms >= TEMP_CHECK_MS:
            self.temp_checked_ms = now_ms
            if self.hw.temperature_cdeg() > OVERTEMP_CDEG and not self.faults & P.FAULT_OVERTEMP:
                self.faults |= P.FAULT_OVERTEMP
                self.safe_state(now_ms)
                self._push_event(P.EVENT_KIND_SAFE_STATE, P.SAFE_REASON_OVERTEMP, 0, now_ms, 0)
        self._update_outputs(now_ms)
        if self.linked:
            self._send_events(now_ms)

    # ------------------------------------------------------------------ outputs
    def safe_state(self, now_ms):
        """Every output to its safe default now: lights at the safe level, camera and lens off."""
        for ch in self.channels:
            ch.start_level = ch.target = P.SAFE_LEVEL
            ch.fade_ms = 0
            ch.until = None
        self.camera_until = [None, None]
        for output in (0, 1):
            self.hw.set_camera(output, False)
        self.lens_pattern = P.LENS_PATTERN_OFF
        self.lens_until = None
        self._update_outputs(now_ms)

    def is_safe(self, now_ms):
        """True while every output sits at its safe default."""
        return (all(ch.level(now_ms) == P.SAFE_LEVEL for ch in self.channels)
                and self.camera_until == [None, None] and self.lens_pattern == P.LENS_PATTERN_OFF)

    def _update_outputs(self, now_ms):
        for index, ch in enumerate(self.channels):
            if ch.until is not None and now_ms >= ch.until:
                ch.start_level = ch.target = P.SAFE_LEVEL
                ch.fade_ms = 0
                ch.until = None
                self.faults |= P.FAULT_MAX_DURATION
            level = ch.level(now_ms)
            if level != ch.out:
                ch.out = level
                self.hw.set_level(index, level, ch.cct_k)
        for output in (0, 1):
            until = self.camera_until[output]
            if until is not None and now_ms >= until:
                self.camera_until[output] = None
                self.hw.set_camera(output, False)
        if self.lens_until is not None and now_ms >= self.lens_until:
            self.lens_pattern = P.LENS_PATTERN_OFF
            self.lens_until = None
        lens = self._lens_level(now_ms)
        if lens != self.lens_out:
            self.lens_out = lens
            self.hw.set_lens(lens)

    def _lens_level(self, now_ms):
        pattern = self.lens_pattern
        if pattern == P.LENS_PATTERN_ON:
            return 1000
        if pattern == P.LENS_PATTERN_BLINK:
            return 1000 if (now_ms - self.lens_start) % 500 < 250 else 0
        if pattern == P.LENS_PATTERN_PULSE:
            phase = (now_ms - self.lens_start) % 1000
            return phase * 2 if phase < 500 else (1000 - phase) * 2
        return 0

    # ------------------------------------------------------------------ events
    def _push_event(self, kind, code, value, now_ms, flags):
        if len(self.events) >= EVENT_QUEUE_MAX:
            self.events.pop(0)
            self.lost_total += 1
            self.lost_pending += 1
            self.faults |= P.FAULT_EVENT_OVERFLOW
        self.events.append([self.next_event_id, kind, code, value, now_ms, flags])
        self.next_event_id = (self.next_event_id + 1) & 0xFFFF

    def _send_events(self, now_ms):
        if self.event_sent_ms is not None and now_ms - self.event_sent_ms < EVENT_RETRY_MS:
            return
        if self.lost_pending and self.lost_event is None:
            self.lost_event = [self.next_event_id, min(self.lost_pending, 0xFFFF)]
            self.next_event_id = (self.next_event_id + 1) & 0xFFFF
        if self.lost_event is not None:
            event = (self.lost_event[0], P.EVENT_KIND_EVENTS_LOST, 0, self.lost_event[1], 0, 0)
        elif self.events:
            e = self.events[0]
            event = (e[0], e[1], e[2], e[3], max(0, now_ms - e[4]), e[5])
        else:
            return
        payload = struct.pack(P.FORMATS[P.T_EVENT], event[0], event[1], event[2], event[3],
                              event[4] & 0xFFFFFFFF, event[5])
        self.hw.write(build_frame(0, P.T_EVENT, payload))
        self.event_sent_ms = now_ms

    def _on_event_ack(self, event_id):
        if self.lost_event is not None and self.lost_event[0] == event_id:
            self.lost_pending -= self.lost_event[1]
            self.lost_event = None
            self.event_sent_ms = None
        elif self.events and self.events[0][0] == event_id:
            self.events.pop(0)
            self.event_sent_ms = None

    # ------------------------------------------------------------------ commands
    def _reply(self, seq, msg_type, payload):
        frame = build_frame(seq, msg_type, payload)
        self.hw.write(frame)
        return frame

    def _ack(self, seq, result):
        return self._reply(seq, P.T_ACK, bytes((result,)))

    def _on_frame(self, seq, msg_type, payload, now_ms):
        if msg_type not in P.LIMITS:
            if seq:
                self._ack(seq, P.RESULT_UNKNOWN_TYPE)
            return
        fmt = P.FORMATS[msg_type]
        if len(payload) != struct.calcsize(fmt):
            if seq:
                self._ack(seq, P.RESULT_BAD_LENGTH)
            return
        values = struct.unpack(fmt, payload) if payload else ()
        for value, (low, high) in zip(values, P.LIMITS[msg_type]):
            if value < low or value > high:
                if seq:
                    self._ack(seq, P.RESULT_BAD_VALUE)
                return
        if msg_type == P.T_HELLO:
            self._on_hello(seq, values, now_ms)
            return
        if not self.linked:
            self._ack(seq, P.RESULT_NOT_READY)  # the host must handshake (again) first
            return
        self.last_rx_ms = now_ms
        if msg_type == P.T_HEARTBEAT:
            self._reply(0, P.T_HEARTBEAT_REPLY, struct.pack(
                P.FORMATS[P.T_HEARTBEAT_REPLY], self.uptime_ms(now_ms), self.faults,
                min(255, len(self.events) + (1 if self.lost_event or self.lost_pending else 0))))
            return
        if msg_type == P.T_EVENT_ACK:
            self._on_event_ack(values[0])
            return
        if seq == 0:
            return  # commands need a sequence number; seq 0 is for unacknowledged frames only
        if seq == self.last_seq and self.last_reply is not None:
            self.hw.write(self.last_reply)  # a retransmission: answer again, do not execute twice
            return
        self.last_seq = seq
        self.executed += 1
        self.last_reply = self._execute(seq, msg_type, values, now_ms)

    def _on_hello(self, seq, values, now_ms):
        major, _minor, timeout_ms, session = values
        if major == self.major:
            self.linked = True
            self.last_rx_ms = now_ms
            self.host_timeout_ms = timeout_ms
            if session != self.session:
                self.session = session
                self.last_seq = 0
                self.last_reply = None
            self.event_sent_ms = None
        else:
            self.linked = False
        fw_id = self.firmware_id.encode()[:16]
        payload = struct.pack(
            P.FORMATS[P.T_HELLO_REPLY], self.major, self.minor, fw_id + bytes(16 - len(fw_id)), self.boot_id,
            self.light_channels, self.cct_mask, self.buttons, self.camera_outputs, self.capabilities)
        self._reply(seq, P.T_HELLO_REPLY, payload)

    def _execute(self, seq, msg_type, values, now_ms):
        if msg_type == P.T_SET_LIGHT:
            channel, level, cct_k, fade_ms, max_ms = values
            if channel >= self.light_channels:
                return self._ack(seq, P.RESULT_BAD_VALUE)
            if cct_k:
                if not self.cct_mask & (1 << channel):
                    return self._ack(seq, P.RESULT_UNSUPPORTED)
                if cct_k < 2000:
                    return self._ack(seq, P.RESULT_BAD_VALUE)
            self._fade(channel, level, fade_ms, max_ms, now_ms, cct_k)
        elif msg_type == P.T_SCENE:
            scene, fade_ms, max_ms = values
            levels, lens = P.SCENES[scene]
            for channel in range(self.light_channels):
                self._fade(channel, levels[channel], fade_ms, max_ms, now_ms, 0)
            self._lens(lens, max_ms, now_ms)
        elif msg_type == P.T_CAMERA:
            output, pulse_ms = values
            if not self.camera_outputs & (1 << output):
                return self._ack(seq, P.RESULT_UNSUPPORTED)
            self.camera_until[output] = now_ms + pulse_ms
            self.hw.set_camera(output, True)
        elif msg_type == P.T_LENS_CUE:
            pattern, max_ms = values
            self._lens(pattern, max_ms, now_ms)
        elif msg_type == P.T_STATUS_REQ:
            now_levels = [ch.level(now_ms) for ch in self.channels] + [0, 0, 0, 0]
            payload = struct.pack(
                P.FORMATS[P.T_STATUS], self.uptime_ms(now_ms),
                max(-4000, min(15000, self.hw.temperature_cdeg())), self.faults,
                1 if self.is_safe(now_ms) else 0, now_levels[0], now_levels[1], now_levels[2], now_levels[3],
                self.lens_pattern, min(255, len(self.events)), min(0xFFFF, self.lost_total))
            self.faults &= P.FAULT_OVERTEMP if self.hw.temperature_cdeg() > OVERTEMP_CDEG else 0
            return self._reply(seq, P.T_STATUS, payload)
        elif msg_type == P.T_SAFE_STATE:
            self.safe_state(now_ms)
        elif msg_type == P.T_SELFTEST_BUTTON:
            if values[0] >= self.buttons:
                return self._ack(seq, P.RESULT_BAD_VALUE)
            self.button(values[0], now_ms, 1)
        self._update_outputs(now_ms)
        return self._ack(seq, P.RESULT_OK)

    def _fade(self, channel, level, fade_ms, max_ms, now_ms, cct_k):
        ch = self.channels[channel]
        ch.start_level = ch.level(now_ms)
        ch.target = level
        ch.fade_start = now_ms
        ch.fade_ms = fade_ms
        ch.until = None if level == P.SAFE_LEVEL else now_ms + max_ms
        if cct_k:
            ch.cct_k = cct_k
            ch.out = -1  # re-drive the channel so the new temperature applies

    def _lens(self, pattern, max_ms, now_ms):
        self.lens_pattern = pattern
        self.lens_start = now_ms
        self.lens_until = None if pattern == P.LENS_PATTERN_OFF else now_ms + max_ms

    def uptime_ms(self, now_ms):
        """Milliseconds since boot, wrapping at 2**32."""
        return (now_ms - self.boot_ms) & 0xFFFFFFFF
