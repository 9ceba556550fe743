"""Typed, thread-safe client of the kiosk controller (lights, camera remote, lens LED, buttons).

Usage::

    from firmware_bridge.client import BridgeClient, Scene, CameraOutput, LensPattern, ButtonPressed

    with BridgeClient("/dev/ttyACM0") as bridge:          # or "sim://" for the simulated controller
        info = bridge.wait_ready(timeout_s=5)               # handshake done: DeviceInfo
        bridge.on_event(lambda ev: print(ev))               # called from the link thread
        bridge.scene(Scene.COUNTDOWN, max_ms=10_000)        # built-in scene, back to safe after 10 s
        bridge.lens_cue(LensPattern.BLINK, max_ms=3_000)    # look-at-the-lens LED
        bridge.camera_pulse(CameraOutput.SHUTTER, pulse_ms=120)
        bridge.set_light(0, 800, fade_ms=200, max_ms=60_000)  # channel 0..3, level 0..1000
        bridge.set_lights({0: 800, 1: 500}, max_ms=60_000)
        print(bridge.status())                              # DeviceStatus
        bridge.safe_state()

Behaviour the callers can rely on:
- Every command method blocks until the controller acknowledged it (or raises a BridgeError) and
  returns None; pass ``wait=False`` to get a ``concurrent.futures.Future`` instead and never block
  (the Kivy thread should do that). The queue is bounded (``LinkConfig.queue_size``): a full queue
  raises QueueFull at once. Each command has a deadline (``timeout_ms`` or
  ``LinkConfig.command_deadline_ms``); a command is never dropped silently.
- Errors (firmware_bridge.errors): InvalidCommand (argument out of range, nothing sent),
  CommandRejected (the board refused it), LinkDown / CommandTimeout / DeviceRestarted / QueueFull
  (transient: ``err.transient`` is True), ProtocolMismatch (permanent: reflash the firmware).
- ``state`` is a LinkState: CONNECTING, READY, DEGRADED, LOST (reconnecting with backoff), CLOSED.
  ``on_state(cb)`` and ``on_event(cb)`` register callbacks, called in order on the client's own
  event thread (so they may call the client's blocking methods; marshal them onto your UI clock);
  each returns a function that unregisters it. Events: ButtonPressed,
  SafeStateEntered, FaultRaised, EventsLost, DeviceRebooted. A button pressed while the link is down
  is kept by the firmware and delivered after the reconnect (``age_ms`` says how old it is), or
  reported as EventsLost if its queue overflowed; duplicates are suppressed.
- Lights and the lens LED need ``max_ms`` (the firmware returns them to safe after it); when the
  host's heartbeat stops the firmware goes to its safe state on its own.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from firmware_bridge.errors import BridgeError, InvalidCommand, LinkDown
from firmware_bridge.link import Link, LinkConfig, LinkState
from firmware_bridge.messages import (
    LIGHT_CHANNELS_MAX,
    PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
    Button,
    CameraMsg,
    CameraOutput,
    Capability,
    EventKind,
    EventMsg,
    Fault,
    HelloReplyMsg,
    LensCueMsg,
    LensPattern,
    Message,
    SafeReason,
    SafeStateMsg,
    Scene,
    SceneMsg,
    SelftestButtonMsg,
    SetLightMsg,
    StatusMsg,
    StatusReqMsg,
)

__all__ = [
    "PROTOCOL_MAJOR", "PROTOCOL_MINOR", "BridgeClient", "BridgeEvent", "Button", "ButtonPressed",
    "CameraOutput", "DeviceInfo", "DeviceRebooted", "DeviceStatus", "EventsLost", "Fault", "FaultRaised",
    "LensPattern", "LinkConfig", "LinkState", "SafeReason", "SafeStateEntered", "Scene",
]

DEFAULT_MAX_MS = 60_000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceInfo:
    """What the controller said in the handshake."""

    firmware_id: str
    protocol: tuple[int, int]
    boot_id: int
    light_channels: int
    cct_channels: frozenset[int]
    buttons: int
    camera_outputs: frozenset[CameraOutput]
    capabilities: Capability


@dataclass(frozen=True)
class DeviceStatus:
    """The controller's STATUS answer."""

    uptime_ms: int
    temperature_c: float
    faults: Fault
    safe: bool
    levels: tuple[int, ...]
    lens: LensPattern
    queued_events: int
    lost_events: int


@dataclass(frozen=True)
class ButtonPressed:
    """A hardware button was pressed `age_ms` ago (synthetic: sent by SELFTEST_BUTTON)."""

    button: Button
    age_ms: int
    synthetic: bool
    event_id: int


@dataclass(frozen=True)
class SafeStateEntered:
    """The firmware put every output in its safe state on its own (heartbeat lost, overheating)."""

    reason: SafeReason
    age_ms: int


@dataclass(frozen=True)
class FaultRaised:
    """A fault event (bit index `code` of Fault)."""

    code: int


@dataclass(frozen=True)
class EventsLost:
    """The firmware's event queue overflowed while the link was down: `count` events were dropped."""

    count: int


@dataclass(frozen=True)
class DeviceRebooted:
    """The controller restarted since the last handshake (events from before it may be gone)."""

    boot_id: int


BridgeEvent = ButtonPressed | SafeStateEntered | FaultRaised | EventsLost | DeviceRebooted


class BridgeClient:
    """The kiosk's handle on the controller; see the module docstring."""

    def __init__(self, url: str, config: LinkConfig | None = None) -> None:
        self.url = url
        self._event_cbs: list[Callable[[BridgeEvent], None]] = []
        self._state_cbs: list[Callable[[LinkState], None]] = []
        self._cb_lock = threading.Lock()
        self._info: DeviceInfo | None = None
        self._ready = threading.Condition()
        self._calls: queue.SimpleQueue[tuple[str, object] | None] = queue.SimpleQueue()
        self._dispatcher: threading.Thread | None = None
        self._link = Link(url, config, on_event=self._on_link_event, on_state=self._on_link_state,
                          on_hello=self._on_hello)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> BridgeClient:
        """Start connecting in the background (returns at once); see wait_ready()."""
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._dispatch_loop, name="bridge-events", daemon=True)
            self._dispatcher.start()
        self._link.start()
        return self

    def wait_ready(self, timeout_s: float = 5.0) -> DeviceInfo:
        """Block until the link is up; raise ProtocolMismatch, or LinkDown naming the last error."""
        self.start()
        deadline = time.monotonic() + timeout_s
        with self._ready:
            while True:
                if self._link.fatal and self._link.last_error is not None:
                    raise self._link.last_error
                if self.state in (LinkState.READY, LinkState.DEGRADED) and self._info is not None:
                    return self._info
                if self.state is LinkState.CLOSED:
                    raise LinkDown("the bridge client is closed")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LinkDown(
                        f"controller on {self.url} not ready after {timeout_s:g} s "
                        f"({self._link.last_error or 'no answer to the handshake'})")
                self._ready.wait(min(left, 0.05))

    def close(self) -> None:
        """Stop the link (the firmware goes safe on its own when the heartbeat stops)."""
        self._link.close()
        self._calls.put(None)
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher is not threading.current_thread():
            dispatcher.join(timeout=5.0)

    def __enter__(self) -> BridgeClient:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def state(self) -> LinkState:
        """The link state now."""
        return self._link.state

    @property
    def info(self) -> DeviceInfo | None:
        """The last handshake's DeviceInfo (None before the first)."""
        return self._info

    @property
    def stats(self) -> dict[str, int]:
        """Counters: sent, retransmits, bad_frames, events, duplicate_events, reconnects."""
        return dict(self._link.stats)

    @property
    def last_error(self) -> BridgeError | None:
        """Why the link went down last (None if it never did)."""
        return self._link.last_error

    # ------------------------------------------------------------------ callbacks
    def on_event(self, callback: Callable[[BridgeEvent], None]) -> Callable[[], None]:
        """Call `callback(event)` from the link thread for each device event; returns an unsubscribe."""
        with self._cb_lock:
            self._event_cbs.append(callback)
        return lambda: self._remove(self._event_cbs, callback)

    def on_state(self, callback: Callable[[LinkState], None]) -> Callable[[], None]:
        """Call `callback(state)` from the link thread on every state change; returns an unsubscribe."""
        with self._cb_lock:
            self._state_cbs.append(callback)
        return lambda: self._remove(self._state_cbs, callback)

    def _remove(self, callbacks: list[Any], callback: object) -> None:
        with self._cb_lock:
            if callback in callbacks:
                callbacks.remove(callback)

    def _emit(self, event: BridgeEvent) -> None:
        self._calls.put(("event", event))

    def _dispatch_loop(self) -> None:
        """Call listeners on a thread of their own, so that they may call this client's blocking methods."""
        while True:
            item = self._calls.get()
            if item is None:
                return
            kind, value = item
            with self._cb_lock:
                callbacks: list[Callable[[Any], None]] = list(
                    self._event_cbs if kind == "event" else self._state_cbs)
            for callback in callbacks:
                try:
                    callback(value)
                except Exception:  # reason: one failing listener must not starve the others
                    log.exception("bridge %s listener failed", kind)

    def _on_link_event(self, msg: EventMsg, boot_id: int) -> None:
        try:
            if msg.kind == EventKind.BUTTON:
                self._emit(ButtonPressed(Button(msg.code), msg.age_ms, bool(msg.flags & 1), msg.event_id))
            elif msg.kind == EventKind.SAFE_STATE:
                self._emit(SafeStateEntered(SafeReason(msg.code), msg.age_ms))
            elif msg.kind == EventKind.EVENTS_LOST:
                self._emit(EventsLost(msg.value))
            else:
                self._emit(FaultRaised(msg.code))
        except ValueError:
            log.warning("bridge: event with an unknown code %d (kind %d) ignored", msg.code, msg.kind)

    def _on_link_state(self, state: LinkState) -> None:
        with self._ready:
            self._ready.notify_all()
        self._calls.put(("state", state))

    def _on_hello(self, reply: HelloReplyMsg) -> None:
        previous = self._info
        self._info = DeviceInfo(
            firmware_id=reply.firmware_id, protocol=(reply.major, reply.minor), boot_id=reply.boot_id,
            light_channels=reply.light_channels,
            cct_channels=frozenset(c for c in range(LIGHT_CHANNELS_MAX) if reply.cct_mask & (1 << c)),
            buttons=reply.buttons,
            camera_outputs=frozenset(o for o in CameraOutput if reply.camera_outputs & (1 << o)),
            capabilities=Capability(reply.capabilities))
        if previous is not None and previous.boot_id != reply.boot_id:
            self._emit(DeviceRebooted(reply.boot_id))

    # ------------------------------------------------------------------ commands
    def send(self, msg: Message, *, wait: bool = True,
             timeout_ms: int | None = None) -> Future[Message] | None:
        """Queue any host message; block for its answer (None) unless wait=False (the Future)."""
        future = self._link.submit(msg, timeout_ms)
        if not wait:
            return future
        self._result(future, timeout_ms)
        return None

    def _result(self, future: Future[Message], timeout_ms: int | None) -> Message:
        limit = (timeout_ms or self._link.config.command_deadline_ms) / 1000.0 + 1.0
        try:
            return future.result(timeout=limit)
        except TimeoutError as err:  # the link thread always resolves by the deadline; this is a backstop
            raise LinkDown(f"no result from the bridge link within {limit:g} s") from err

    def set_light(self, channel: int, level: int, *, cct_k: int = 0, fade_ms: int = 0,
                  max_ms: int = DEFAULT_MAX_MS, wait: bool = True,
                  timeout_ms: int | None = None) -> Future[Message] | None:
        """Fade light `channel` (0..3) to `level` (0..1000) over fade_ms (ms), back to safe after max_ms (ms).

        `cct_k` is the colour temperature in kelvin (2000..10000) on channels with CCT; 0 leaves it as is.
        """
        msg = SetLightMsg(channel, level, cct_k, fade_ms, max_ms)
        return self.send(msg, wait=wait, timeout_ms=timeout_ms)

    def set_lights(self, levels: Mapping[int, int] | Sequence[int], *, fade_ms: int = 0,
                   max_ms: int = DEFAULT_MAX_MS, timeout_ms: int | None = None) -> None:
        """Set several channels ({channel: level} or a list by channel), one acknowledged command each."""
        items = levels.items() if isinstance(levels, Mapping) else enumerate(levels)
        messages = [SetLightMsg(channel, level, 0, fade_ms, max_ms) for channel, level in items]
        if not messages:
            raise InvalidCommand("set_lights needs at least one channel")
        futures = [self._link.submit(msg, timeout_ms) for msg in messages]
        for future in futures:
            self._result(future, timeout_ms)

    def scene(self, scene: Scene, *, fade_ms: int = 300, max_ms: int = DEFAULT_MAX_MS, wait: bool = True,
              timeout_ms: int | None = None) -> Future[Message] | None:
        """Switch to a built-in scene (levels and lens LED set by the firmware) for at most max_ms (ms)."""
        return self.send(SceneMsg(int(scene), fade_ms, max_ms), wait=wait, timeout_ms=timeout_ms)

    def camera_pulse(self, output: CameraOutput = CameraOutput.SHUTTER, pulse_ms: int = 100, *,
                     wait: bool = True, timeout_ms: int | None = None) -> Future[Message] | None:
        """Pulse the camera's focus or shutter line for pulse_ms (1..2000 ms)."""
        return self.send(CameraMsg(int(output), pulse_ms), wait=wait, timeout_ms=timeout_ms)

    def lens_cue(self, pattern: LensPattern, *, max_ms: int = 5000, wait: bool = True,
                 timeout_ms: int | None = None) -> Future[Message] | None:
        """Drive the look-at-the-lens LED with a pattern for at most max_ms (ms)."""
        return self.send(LensCueMsg(int(pattern), max_ms), wait=wait, timeout_ms=timeout_ms)

    def safe_state(self, *, wait: bool = True, timeout_ms: int | None = None) -> Future[Message] | None:
        """Every output to its safe default now."""
        return self.send(SafeStateMsg(), wait=wait, timeout_ms=timeout_ms)

    def selftest_button(self, button: Button, *, timeout_ms: int | None = None) -> None:
        """Ask the firmware to queue a synthetic press of `button` (it comes back as a ButtonPressed)."""
        self.send(SelftestButtonMsg(int(button)), timeout_ms=timeout_ms)

    def status(self, *, timeout_ms: int | None = None) -> DeviceStatus:
        """Ask the controller for its status."""
        reply = self._result(self._link.submit(StatusReqMsg(), timeout_ms), timeout_ms)
        if not isinstance(reply, StatusMsg):
            raise LinkDown(f"STATUS_REQ answered with {reply.NAME}")
        return DeviceStatus(
            uptime_ms=reply.uptime_ms, temperature_c=reply.temp_cdeg / 100.0, faults=Fault(reply.faults),
            safe=bool(reply.safe), levels=(reply.level0, reply.level1, reply.level2, reply.level3),
            lens=LensPattern(reply.lens), queued_events=reply.queued_events, lost_events=reply.lost_events)
