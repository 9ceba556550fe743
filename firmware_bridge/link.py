"""The link: owns the serial port, handshakes, sends commands stop-and-wait, heartbeats, reconnects.

Two threads per link: the *link thread* connects (with exponential backoff), runs the handshake, takes
commands from a bounded queue, sends each with a fresh sequence number and retransmits it with the
same number until an answer comes (the firmware answers a repeated number from its cache instead of
running the command twice), and sends a heartbeat every `heartbeat_ms`. The *reader thread* decodes
frames, hands answers to the link thread, acknowledges device events and suppresses duplicates.
A command that was in flight when the cable was pulled is sent again after the reconnect with the same
sequence number, so it runs exactly once; if the board rebooted meanwhile it fails with DeviceRestarted.
Every queued command carries a deadline; nothing is dropped silently: its future fails with LinkDown
(never sent) or CommandTimeout (sent, never answered).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from enum import Enum

import serial

from firmware_bridge import codec
from firmware_bridge.errors import (
    BridgeConfigError,
    BridgeError,
    CommandRejected,
    CommandTimeout,
    DeviceRestarted,
    LinkDown,
    ProtocolMismatch,
    QueueFull,
)
from firmware_bridge.messages import (
    FRAME_GAP_MS,
    PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
    AckMsg,
    EventAckMsg,
    EventMsg,
    HeartbeatMsg,
    HeartbeatReplyMsg,
    HelloMsg,
    HelloReplyMsg,
    Message,
    Result,
)
from firmware_bridge.port import open_port

log = logging.getLogger(__name__)


class LinkState(Enum):
    """Explicit link states; LOST covers every reconnect attempt after a loss."""

    CONNECTING = "connecting"  # first connect and handshake since start()
    READY = "ready"  # handshake done, heartbeats answered on time, no retransmissions lately
    DEGRADED = "degraded"  # up, but frames needed retransmission or heartbeats come late
    LOST = "lost"  # no port or no answer; reconnecting with backoff (or refused: see last_error)
    CLOSED = "closed"  # close() was called


@dataclass(frozen=True)
class LinkConfig:
    """Timing and sizing of the link; every number is bounded (BridgeConfigError names the bad one)."""

    baudrate: int = 115200
    ack_timeout_ms: int = 60  # per attempt; a 55-byte frame takes 5 ms each way at 115200 baud
    retries: int = 4  # retransmissions after the first attempt
    heartbeat_ms: int = 200
    device_timeout_ms: int = 1000  # the firmware goes to its safe state after this long without us
    lost_after_ms: int = 800  # no frame from the device for this long: link lost
    backoff_initial_ms: int = 50
    backoff_max_ms: int = 2000
    queue_size: int = 32
    command_deadline_ms: int = 2000  # default time a command may wait for the link, queue included
    recover_ms: int = 1000  # DEGRADED returns to READY after this long without trouble

    def __post_init__(self) -> None:
        bounds = {
            "baudrate": (1200, 4_000_000), "ack_timeout_ms": (5, 5000), "retries": (0, 20),
            "heartbeat_ms": (20, 10_000), "device_timeout_ms": (50, 60_000), "lost_after_ms": (50, 60_000),
            "backoff_initial_ms": (1, 10_000), "backoff_max_ms": (1, 120_000), "queue_size": (1, 1024),
            "command_deadline_ms": (10, 600_000), "recover_ms": (0, 60_000),
        }
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise BridgeConfigError(f"link setting {name}={value} is outside {low}..{high}")
        if self.heartbeat_ms >= self.device_timeout_ms:
            raise BridgeConfigError(
                f"heartbeat_ms={self.heartbeat_ms} must be shorter than "
                f"device_timeout_ms={self.device_timeout_ms}")


@dataclass
class _Command:
    msg: Message
    future: Future[Message]
    deadline: float
    seq: int = 0
    sent: int = 0


class Link:
    """The serial link to one controller; thread-safe submit(), callbacks from the link threads."""

    def __init__(self, url: str, config: LinkConfig | None = None, *,
                 on_event: Callable[[EventMsg, int], None] | None = None,
                 on_state: Callable[[LinkState], None] | None = None,
                 on_hello: Callable[[HelloReplyMsg], None] | None = None) -> None:
        self.url = url
        self.config = config or LinkConfig()
        self._on_event = on_event
        self._on_state = on_state
        self._on_hello = on_hello
        self._queue: queue.Queue[_Command] = queue.Queue(maxsize=self.config.queue_size)
        self._state = LinkState.CONNECTING
        self._state_lock = threading.Lock()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._port: serial.SerialBase | None = None
        self._write_lock = threading.Lock()
        self._cond = threading.Condition()
        self._waiting_seq = 0
        self._reply: Message | None = None
        self._port_dead = False
        self._need_hello = False
        self._seq = random.randrange(1, 256)
        self._session = random.getrandbits(32)
        self._inflight: _Command | None = None
        self.hello: HelloReplyMsg | None = None
        self.last_error: BridgeError | None = None
        self.fatal = False
        self._last_heard = 0.0
        self._trouble_at = -1e9
        self._boot_id: int | None = None
        self._seen_events: deque[int] = deque(maxlen=64)
        self.device_faults = 0
        self.stats = {"sent": 0, "retransmits": 0, "bad_frames": 0, "events": 0, "duplicate_events": 0,
                      "reconnects": 0}

    # ------------------------------------------------------------------ public
    @property
    def state(self) -> LinkState:
        """The current link state."""
        return self._state

    def start(self) -> None:
        """Start the link thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bridge-link", daemon=True)
            self._thread.start()

    def submit(self, msg: Message, deadline_ms: int | None = None) -> Future[Message]:
        """Queue a command; the future resolves to the device's answer. QueueFull/LinkDown at once."""
        if self._closing.is_set():
            raise LinkDown("the bridge link is closed")
        if self.fatal and self.last_error is not None:
            raise self.last_error
        codec.encode_payload(msg)  # refuse out-of-range arguments now, in the caller's thread
        timeout = (deadline_ms or self.config.command_deadline_ms) / 1000.0
        command = _Command(msg, Future(), time.monotonic() + timeout)
        try:
            self._queue.put_nowait(command)
        except queue.Full:
            raise QueueFull(
                f"bridge command queue is full ({self.config.queue_size} waiting): "
                "the controller is slow or the link is down") from None
        return command.future

    def close(self) -> None:
        """Stop the threads, close the port, fail whatever is still queued."""
        self._closing.set()
        with self._cond:
            self._cond.notify_all()
        port = self._port
        if port is not None:
            with contextlib.suppress(Exception):
                port.cancel_read()
        # Both threads are waited for with the same wide margin: the link thread's own wait for the reader
        # (on a reconnect) is short, and on a busy machine the reader can outlast it.
        for thread in (self._thread, self._reader):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5.0)
        self._fail_all(LinkDown("the bridge link was closed"))
        self._set_state(LinkState.CLOSED)

    # ------------------------------------------------------------------ state
    def _set_state(self, state: LinkState) -> None:
        with self._state_lock:
            if self._state is state or self._state is LinkState.CLOSED:
                return
            self._state = state
        log.info("bridge link %s", state.value)
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:  # reason: a callback must not kill the link thread
                log.exception("bridge state callback failed")

    def _fail_all(self, err: BridgeError) -> None:
        if self._inflight is not None:
            self._resolve(self._inflight, error=err)
            self._inflight = None
        while True:
            try:
                command = self._queue.get_nowait()
            except queue.Empty:
                return
            self._resolve(command, error=err)

    @staticmethod
    def _resolve(command: _Command, result: Message | None = None,
                 error: BaseException | None = None) -> None:
        if command.future.done():
            return
        if error is not None:
            command.future.set_exception(error)
        else:
            command.future.set_result(result)  # type: ignore[arg-type]  # reason: result given when no error

    def _expire_queued(self, now: float) -> None:
        """Fail queued commands whose deadline passed while the link was down."""
        keep: list[_Command] = []
        while True:
            try:
                command = self._queue.get_nowait()
            except queue.Empty:
                break
            if now >= command.deadline:
                self._resolve(command, error=LinkDown(
                    f"{command.msg.NAME} not delivered: bridge link {self._state.value} "
                    f"({self.last_error or 'no answer'})"))
            else:
                keep.append(command)
        for command in keep:
            self._queue.put_nowait(command)

    # ------------------------------------------------------------------ link thread
    def _run(self) -> None:
        backoff = self.config.backoff_initial_ms / 1000.0
        first = True
        while not self._closing.is_set():
            try:
                self._connect()
                backoff = self.config.backoff_initial_ms / 1000.0
                first = False
                self._serve()
            except ProtocolMismatch as err:
                self.last_error, self.fatal = err, True
                log.error("%s", err)  # noqa: TRY400  # reason: an expected refusal, no traceback
                self._disconnect()
                self._set_state(LinkState.LOST)
                self._fail_all(err)
                return
            except BridgeError as err:
                self.last_error = err
                log.info("bridge link down: %s", err)
            self._disconnect()
            if self._closing.is_set():
                return
            self._set_state(LinkState.CONNECTING if first else LinkState.LOST)
            self.stats["reconnects"] += 1
            deadline = time.monotonic() + backoff * random.uniform(0.8, 1.2)
            while not self._closing.is_set() and time.monotonic() < deadline:
                self._expire_queued(time.monotonic())
                self._expire_inflight(time.monotonic())
                self._closing.wait(min(0.02, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, self.config.backoff_max_ms / 1000.0)

    def _connect(self) -> None:
        port = open_port(self.url, self.config.baudrate, timeout_s=min(0.05, FRAME_GAP_MS / 1000.0))
        with contextlib.suppress(serial.SerialException, OSError):
            port.reset_input_buffer()
        with self._cond:
            self._port = port
            self._port_dead = False
            self._need_hello = False
        reader = threading.Thread(target=self._read_loop, args=(port,), name="bridge-reader", daemon=True)
        self._reader = reader
        reader.start()
        self._handshake()

    def _disconnect(self) -> None:
        port = self._port
        with self._cond:
            self._port = None
            self._port_dead = True
            self._cond.notify_all()
        if port is not None:
            with contextlib.suppress(Exception):
                port.cancel_read()
            reader = self._reader
            if reader is not None and reader is not threading.current_thread():
                reader.join(timeout=1.0)  # a reconnect need not wait long: a late reader no longer owns a port
            with contextlib.suppress(Exception):
                port.close()

    def _handshake(self) -> None:
        hello = HelloMsg(PROTOCOL_MAJOR, PROTOCOL_MINOR, self.config.device_timeout_ms, self._session)
        reply = self._transact(hello, self._next_seq(), attempts=self.config.retries + 1)
        if not isinstance(reply, HelloReplyMsg):
            raise LinkDown(f"handshake answered with {reply.NAME}, expected HELLO_REPLY")
        if reply.major != PROTOCOL_MAJOR:
            raise ProtocolMismatch(
                f"protocol mismatch: the kiosk speaks bridge protocol {PROTOCOL_MAJOR}.{PROTOCOL_MINOR}, "
                f"the controller firmware '{reply.firmware_id}' speaks {reply.major}.{reply.minor}: "
                f"reflash the controller with the firmware from firmware_bridge/firmware "
                f"(protocol {PROTOCOL_MAJOR}.x, see README 'Firmware bridge') or install a matching kiosk")
        restarted = self._boot_id is not None and reply.boot_id != self._boot_id
        if self._boot_id != reply.boot_id:
            self._seen_events.clear()
        self._boot_id = reply.boot_id
        self.hello = reply
        now = time.monotonic()
        self._last_heard = now
        if self._on_hello is not None:
            try:
                self._on_hello(reply)
            except Exception:  # reason: a callback must not kill the link thread
                log.exception("bridge hello callback failed")
        self._set_state(LinkState.READY)
        if self._inflight is not None:
            if restarted:
                self._resolve(self._inflight, error=DeviceRestarted(
                    f"{self._inflight.msg.NAME}: the controller restarted while it was in flight; "
                    "its effect is unknown, send it again if it is still wanted"))
                self._inflight = None
            else:
                self._send_command(self._inflight)  # same sequence number: runs once at most

    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1
        return self._seq

    def _serve(self) -> None:
        cfg = self.config
        next_heartbeat = time.monotonic()
        while not self._closing.is_set():
            now = time.monotonic()
            if self._port_dead:
                raise LinkDown(f"serial port {self.url} went away")
            if self._need_hello:
                self._need_hello = False
                self._trouble_at = now
                self._handshake()
                continue
            if now - self._last_heard > cfg.lost_after_ms / 1000.0:
                raise LinkDown(f"no heartbeat from the controller for {cfg.lost_after_ms} ms")
            if now >= next_heartbeat:
                self._write(codec.encode_frame(0, HeartbeatMsg()))
                next_heartbeat = now + cfg.heartbeat_ms / 1000.0
            late = now - self._last_heard > 2.5 * cfg.heartbeat_ms / 1000.0
            troubled = now - self._trouble_at < cfg.recover_ms / 1000.0
            self._set_state(LinkState.DEGRADED if late or troubled else LinkState.READY)
            try:
                command = self._queue.get(timeout=max(0.0, min(next_heartbeat - now, 0.05)))
            except queue.Empty:
                continue
            if time.monotonic() >= command.deadline:
                self._resolve(command, error=LinkDown(f"{command.msg.NAME} not sent before its deadline"))
                continue
            if command.future.set_running_or_notify_cancel():
                command.seq = self._next_seq()
                self._inflight = command
                self._send_command(command)

    def _send_command(self, command: _Command) -> None:
        """Send the in-flight command until answered; on link trouble it stays in flight for the reconnect."""
        remaining = max(1, self.config.retries + 1 - command.sent)
        reply = self._transact(command.msg, command.seq, attempts=remaining, command=command)
        self._inflight = None
        if isinstance(reply, AckMsg) and reply.result != Result.OK:
            if reply.result == Result.NOT_READY:
                # the firmware lost us (heartbeat timeout): handshake again and send the command anew
                command.sent = 0
                self._inflight = command
                self._need_hello = True
                return
            self._resolve(command, error=CommandRejected(
                f"controller refused {command.msg.NAME}: {Result(reply.result).name}", reply.result))
            return
        self._resolve(command, result=reply)

    def _expire_inflight(self, now: float) -> None:
        command = self._inflight
        if command is not None and now >= command.deadline:
            self._inflight = None
            if command.sent:
                err: BridgeError = CommandTimeout(
                    f"{command.msg.NAME} sent {command.sent}× without an answer from the controller; "
                    "it may or may not have run")
            else:
                err = LinkDown(f"{command.msg.NAME} not delivered: {self.last_error or 'link down'}")
            self._resolve(command, error=err)

    def _transact(self, msg: Message, seq: int, attempts: int, command: _Command | None = None) -> Message:
        frame = codec.encode_frame(seq, msg)
        timeout = self.config.ack_timeout_ms / 1000.0
        for attempt in range(attempts):
            with self._cond:
                self._waiting_seq = seq
                self._reply = None
            if attempt:
                self.stats["retransmits"] += 1
                self._trouble_at = time.monotonic()
            self._write(frame)
            if command is not None:
                command.sent += 1
            self.stats["sent"] += 1
            deadline = time.monotonic() + timeout
            with self._cond:
                while self._reply is None and not self._port_dead and not self._closing.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                reply, self._waiting_seq = self._reply, 0
                if self._port_dead:
                    raise LinkDown(f"serial port {self.url} went away")
            if self._closing.is_set():
                raise LinkDown("the bridge link was closed")
            if reply is not None:
                return reply
        raise CommandTimeout(f"{msg.NAME}: no answer from the controller after {attempts} attempt(s)")

    def _write(self, frame: bytes) -> None:
        port = self._port
        if port is None:
            raise LinkDown("no serial port")
        try:
            with self._write_lock:
                port.write(frame)
        except (serial.SerialException, OSError) as err:
            with self._cond:
                self._port_dead = True
                self._cond.notify_all()
            raise LinkDown(f"write to {self.url} failed: {err}") from err

    # ------------------------------------------------------------------ reader thread
    def _read_loop(self, port: serial.SerialBase) -> None:
        decoder = codec.Decoder()
        last_byte = time.monotonic()
        while not self._closing.is_set():
            if not self._owns(port):
                return
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as err:
                # TypeError/AttributeError: pyserial's posix port read after close() from another thread
                log.debug("bridge reader: %s", err)
                with self._cond:
                    self._port_dead = True
                    self._cond.notify_all()
                return
            now = time.monotonic()
            if data:
                last_byte = now
                frames = decoder.feed(data)
            elif decoder.pending and now - last_byte > FRAME_GAP_MS / 1000.0:
                frames = decoder.expire()
            else:
                continue
            if decoder.bad_frames:
                self.stats["bad_frames"] += decoder.bad_frames
                decoder.bad_frames = 0
                self._trouble_at = now
            for frame in frames:
                try:
                    msg = codec.decode_message(frame)
                except BridgeError as err:
                    self.stats["bad_frames"] += 1
                    log.debug("bridge: dropped frame: %s", err)
                    continue
                self._last_heard = now
                self._dispatch(frame.seq, msg)

    def _owns(self, port: serial.SerialBase) -> bool:
        """True while `port` is still the link's current port (not replaced by a reconnect or close)."""
        return self._port is port

    def _dispatch(self, seq: int, msg: Message) -> None:
        if seq:
            with self._cond:
                if seq == self._waiting_seq and self._reply is None:
                    self._reply = msg
                    self._cond.notify_all()
            return
        if isinstance(msg, HeartbeatReplyMsg):
            self.device_faults = msg.faults
        elif isinstance(msg, AckMsg) and msg.result == Result.NOT_READY:
            self._need_hello = True  # the firmware dropped us after a heartbeat timeout
        elif isinstance(msg, EventMsg):
            self._on_device_event(msg)

    def _on_device_event(self, msg: EventMsg) -> None:
        try:
            self._write(codec.encode_frame(0, EventAckMsg(msg.event_id)))
        except LinkDown:
            return  # not acknowledged: the firmware keeps it and sends it again after the reconnect
        # the firmware repeats only its oldest unacknowledged event, so a short memory of ids is enough
        if msg.event_id in self._seen_events:
            self.stats["duplicate_events"] += 1
            return
        self._seen_events.append(msg.event_id)
        self.stats["events"] += 1
        if self._on_event is not None:
            try:
                self._on_event(msg, self._boot_id or 0)
            except Exception:  # reason: a callback must not kill the reader thread
                log.exception("bridge event callback failed")
