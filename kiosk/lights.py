"""The lights as the session sees them: scenes, the countdown ramp and the look-at-the-lens cue.

`NoopLights` when no bridge is configured; `BridgeLights` drives the microcontroller through
`firmware_bridge.client` (a real serial port, or `sim://` for the simulated firmware). Bridge commands
go through a small worker thread, so the UI thread never waits on the serial link.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pydantic import Field

from kiosk.config_base import ConfigSection
from kiosk.status import Level, PartStatus

if TYPE_CHECKING:
    from firmware_bridge.client import BridgeClient

log = logging.getLogger(__name__)
CALLS_MAX = 64  # recent light requests kept in .calls (operator menu, tests); bounded for long runs

SCENES = ("idle", "attract", "framing", "countdown", "flash")
LENS_PATTERNS = ("off", "on", "blink", "pulse")
# A button press delivered after a link outage older than this is ignored (the guest has moved on).
BUTTON_MAX_AGE_MS = 3000


class LightsConfig(ConfigSection):
    """Studio lights and the look-at-the-lens cue through the firmware bridge (section `[lights]`)."""

    port_url: str | None = Field(
        None,
        description="Bridge port: /dev/ttyACM0, a pyserial URL or sim:// (the simulator); empty: no lights.",
    )
    countdown_ramp_ms: int = Field(
        800, ge=0, le=10000, description="Fade time of the lights ramp when the countdown starts, ms."
    )
    lens_cue: bool = Field(True, description="Blink the look-at-the-lens LED during the countdown.")
    attendant_cue: bool = Field(
        True,
        description="Pulse the lens LED on the attract screen while the kiosk needs staff (the printer is out "
        "of paper, jammed or offline), so an attendant sees it from across the room.",
    )
    max_scene_ms: int = Field(
        120000,
        ge=1000,
        le=600000,
        description="Longest a scene stays on before the firmware falls back to safe, ms.",
    )


class Lights(Protocol):
    """What the session asks of the lights; every call returns at once."""

    def scene(self, name: str, fade_ms: int = 300) -> None:
        """Switch to a built-in scene (one of SCENES)."""
        ...

    def lens_cue(self, pattern: str) -> None:
        """Drive the look-at-the-lens LED (one of LENS_PATTERNS)."""
        ...

    def safe(self) -> None:
        """All outputs to their safe defaults."""
        ...

    def attendant(self, needed: bool) -> None:
        """Show (or clear) the "staff needed" cue; sent again now and then while it lasts."""
        ...

    def status(self) -> PartStatus:
        """The bridge's link for the operator: connected, firmware, faults."""
        ...

    def pop_buttons(self) -> list[str]:
        """Hardware buttons pressed since the last call ("start", "print", "operator"), oldest first."""
        ...

    @property
    def ok(self) -> bool:
        """False while the bridge is configured but not reachable."""
        ...

    def close(self) -> None:
        """Release the link."""
        ...


class NoopLights:
    """No lights configured: remembers the last requests (shown in the operator menu), drives nothing."""

    def __init__(self) -> None:
        """Nothing to open."""
        self.last_scene = "idle"
        self.last_lens = "off"
        self.calls: collections.deque[tuple[str, str]] = collections.deque(maxlen=CALLS_MAX)

    def scene(self, name: str, fade_ms: int = 300) -> None:
        """Record the scene."""
        self.last_scene = name
        self.calls.append(("scene", name))

    def lens_cue(self, pattern: str) -> None:
        """Record the lens pattern."""
        self.last_lens = pattern
        self.calls.append(("lens", pattern))

    def safe(self) -> None:
        """Record the safe state."""
        self.scene("idle")
        self.lens_cue("off")

    def attendant(self, needed: bool) -> None:
        """Record the cue."""
        self.calls.append(("attendant", "on" if needed else "off"))

    def status(self) -> PartStatus:
        """Say that no lights are configured."""
        return PartStatus("no lights configured (lights.port_url is empty)", Level.OFF)

    def pop_buttons(self) -> list[str]:
        """No hardware buttons."""
        return []

    @property
    def ok(self) -> bool:
        """Always fine."""
        return True

    def close(self) -> None:
        """Nothing to release."""


class BridgeLights:
    """Lights through the firmware bridge client, commands sent from a worker thread."""

    def __init__(self, config: LightsConfig, client_factory: Callable[[], BridgeClient] | None = None) -> None:
        """Open the bridge (the client reconnects by itself) and start the command worker.

        Args:
            config: the `[lights]` section; port_url must be set.
            client_factory: builds the bridge client (default: firmware_bridge.client on port_url).
        """
        if not config.port_url:
            raise ValueError("BridgeLights needs lights.port_url")
        self.config = config
        self._factory = client_factory or self._default_factory
        self._client: BridgeClient | None = None
        self._q: queue.Queue[tuple[str, tuple[str | int, ...]] | None] = queue.Queue(maxsize=32)
        self.last_error: str | None = None
        self.calls: collections.deque[tuple[str, str]] = collections.deque(maxlen=CALLS_MAX)
        self._buttons: collections.deque[str] = collections.deque(maxlen=16)
        self._thread = threading.Thread(target=self._run, name="lights", daemon=True)
        self._thread.start()

    def _default_factory(self) -> BridgeClient:
        from firmware_bridge.client import BridgeClient

        assert self.config.port_url is not None
        client = BridgeClient(self.config.port_url)
        client.on_event(self._on_event)
        return client.start()

    def _on_event(self, event: object) -> None:
        """Called on the link thread: queue button presses for the session's clock (a stale press is dropped)."""
        from firmware_bridge.client import ButtonPressed

        if isinstance(event, ButtonPressed) and event.age_ms <= BUTTON_MAX_AGE_MS:
            self._buttons.append(event.button.name.lower())

    def pop_buttons(self) -> list[str]:
        """Buttons pressed since the last call."""
        out = []
        while self._buttons:
            out.append(self._buttons.popleft())
        return out

    def _put(self, op: str, *args: str | int) -> None:
        try:
            self._q.put_nowait((op, args))
        except queue.Full:
            log.warning("lights command queue full; dropping %s", op)

    def scene(self, name: str, fade_ms: int = 300) -> None:
        """Switch to a built-in scene for at most max_scene_ms; the countdown ramps over countdown_ramp_ms."""
        if name == "countdown":
            fade_ms = self.config.countdown_ramp_ms
        self.calls.append(("scene", name))
        self._put("scene", name, fade_ms)

    def lens_cue(self, pattern: str) -> None:
        """Drive the lens LED (only "off" when lights.lens_cue is false)."""
        if not self.config.lens_cue and pattern != "off":
            return
        self.calls.append(("lens", pattern))
        self._put("lens", pattern)

    def safe(self) -> None:
        """All outputs safe."""
        self.calls.append(("safe", ""))
        self._put("safe")

    def attendant(self, needed: bool) -> None:
        """The lens LED pulses while staff are needed, off again when not (lights.attendant_cue)."""
        # The protocol has no status LED; on the attract screen the lens LED is otherwise off.
        if not self.config.attendant_cue:
            return
        pattern = "pulse" if needed else "off"
        self.calls.append(("attendant", "on" if needed else "off"))
        self._put("lens", pattern)

    @property
    def ok(self) -> bool:
        """Whether the link is up."""
        from firmware_bridge.link import LinkState

        c = self._client
        return c is not None and c.state in (LinkState.READY, LinkState.DEGRADED)

    def status(self) -> PartStatus:
        """Link state and firmware for the operator."""
        fix = "check the bridge board's USB cable; `kiosk bridge selftest` tests the link"
        c = self._client
        if c is None:
            return PartStatus(f"bridge {self.config.port_url}: not connected ({self.last_error or 'starting'})",
                              Level.FAIL, fix)
        info = c.info.firmware_id if c.info is not None else None
        state = "connected" if self.ok else f"link {c.state.name.lower()} ({c.last_error or self.last_error or ''})"
        line = f"bridge {self.config.port_url}: {state}" + (f", firmware {info}" if info else "")
        return PartStatus(line) if self.ok else PartStatus(line, Level.FAIL, fix)

    def close(self) -> None:
        """Safe state, then stop the worker and the client."""
        with contextlib.suppress(queue.Full):
            self._q.put_nowait(None)
        self._thread.join(timeout=5)
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # reason: closing a broken link must not stop the shutdown
                log.exception("closing the bridge client failed")
            self._client = None

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                self._do("safe", ())
                return
            self._do(*item)

    def _do(self, op: str, args: tuple[str | int, ...]) -> None:
        from firmware_bridge.messages import LensPattern, Scene

        try:
            if self._client is None:
                self._client = self._factory()
            c, max_ms = self._client, self.config.max_scene_ms
            if op == "scene":
                c.scene(Scene[str(args[0]).upper()], fade_ms=int(args[1]), max_ms=max_ms)
            elif op == "lens":
                c.lens_cue(LensPattern[str(args[0]).upper()], max_ms=max_ms)
            elif op == "safe":
                c.safe_state()
            self.last_error = None
        except Exception as err:  # noqa: BLE001  # reason: a lost link is a reported state, never a crash of the session
            self.last_error = f"{type(err).__name__}: {err}"
            log.warning("lights command %s failed: %s", op, self.last_error)


def make_lights(config: LightsConfig) -> Lights:
    """BridgeLights when a port is configured, NoopLights otherwise."""
    if config.port_url:
        return BridgeLights(config)
    return NoopLights()
