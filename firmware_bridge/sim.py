"""The controller firmware running on the host behind a pseudo-terminal.

This is not a second implementation: it runs `firmware/bridge_core.py`, the module the RP2040 runs,
with a recording Hardware instead of pins and a pty instead of USB CDC. Open it through pyserial with
`sim://NAME?option=value&...` (see `firmware_bridge.protocol_sim`); NAME defaults to "default" and
names one simulated board that survives its pty being closed, like a board whose USB cable is pulled.

URL options:
  proto=MAJOR.MINOR   protocol version the firmware claims (to test the mismatch refusal)
  wire=0|1            model each frame's time on the wire at the baud rate the host set (default 1)
  link=PATH           keep a symlink at PATH to the current pty (for tools that want a device path)
  boot_id=N           fixed boot id (default random)

Tests and tools reach the board with `get_sim(NAME)`: unplug()/replug(), press(), drop_rx()/drop_tx(),
snapshot(), reboot(), close(). `python -m firmware_bridge.sim --link /tmp/ttyKIOSK` runs one standalone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import select
import termios
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from firmware_bridge.errors import BridgeConfigError, PortError
from firmware_bridge.firmware import bridge_core, proto

TICK_S = 0.002
_BAUD_BY_CODE = {getattr(termios, name): int(name[1:]) for name in dir(termios)
                 if name.startswith("B") and name[1:].isdigit()}


def _monotonic_ms() -> int:
    return int(time.monotonic() * 1000)


@dataclass
class SimSnapshot:
    """What the simulated board's outputs are doing (read by tests and the monitor)."""

    levels: list[int]
    cct_k: list[int]
    lens: int
    camera: list[bool]
    camera_pulses: list[int]
    safe: bool
    linked: bool
    executed: int
    queued_events: int
    plugged: bool
    boot_id: int


@dataclass
class SimHardware(bridge_core.Hardware):
    """Records what the firmware drives; its write() goes to the pty through the wire model."""

    channels: int = 4
    levels: list[int] = field(default_factory=list)
    cct_k: list[int] = field(default_factory=list)
    camera: list[bool] = field(default_factory=lambda: [False, False])
    camera_pulses: list[int] = field(default_factory=lambda: [0, 0])
    lens: int = 0
    temp_cdeg: int = 3150
    outbox: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.levels = [0] * self.channels
        self.cct_k = [0] * self.channels

    def set_level(self, channel: int, level: int, cct_k: int) -> None:
        """Record a channel level."""
        self.levels[channel] = level
        self.cct_k[channel] = cct_k

    def set_camera(self, output: int, on: bool) -> None:
        """Record a camera output edge and count pulses."""
        if on and not self.camera[output]:
            self.camera_pulses[output] += 1
        self.camera[output] = on

    def set_lens(self, level: int) -> None:
        """Record the lens LED level."""
        self.lens = level

    def temperature_cdeg(self) -> int:
        """Simulated board temperature, 0.01 degC."""
        return self.temp_cdeg

    def write(self, data: bytes) -> None:
        """Queue bytes for the pty."""
        self.outbox.append(bytes(data))


class SimDevice:
    """One simulated controller: firmware core + pty + a thread that ticks it every 2 ms."""

    def __init__(self, name: str, *, major: int = proto.PROTO_MAJOR, minor: int = proto.PROTO_MINOR,
                 model_wire: bool = True, link: Path | None = None, boot_id: int | None = None,
                 clock_ms: Callable[[], int] = _monotonic_ms) -> None:
        self.name = name
        self.model_wire = model_wire
        self.link = link
        self._clock = clock_ms
        self._lock = threading.RLock()
        self._major, self._minor = major, minor
        self.hw = SimHardware()
        self.firmware = self._boot(boot_id)
        self._master: int | None = None
        self._slave: int | None = None
        self._path: str | None = None
        self._wire = bridge_core.Deframer()
        self._drop_rx: dict[int | None, int] = {}
        self._drop_tx: dict[int | None, int] = {}
        self.dropped_rx = 0
        self.dropped_tx = 0
        self.tx_overflow_bytes = 0
        self._rx_free_at = 0.0
        self._tx_free_at = 0.0
        self._stop = threading.Event()
        self.replug()
        self._thread = threading.Thread(target=self._run, name=f"sim-{name}", daemon=True)
        self._thread.start()

    def _boot(self, boot_id: int | None) -> bridge_core.Firmware:
        self.hw.outbox.clear()
        return bridge_core.Firmware(
            self.hw, boot_id if boot_id is not None else random.getrandbits(32), self._clock(),
            light_channels=self.hw.channels, major=self._major, minor=self._minor)

    # ------------------------------------------------------------------ the cable
    @property
    def path(self) -> str:
        """The current pty path; PortError while unplugged."""
        with self._lock:
            if self._path is None:
                raise PortError(f"simulated controller '{self.name}' is unplugged")
            return self._path

    @property
    def plugged(self) -> bool:
        """True while a pty is present."""
        return self._path is not None

    def unplug(self) -> None:
        """Pull the USB cable: the pty disappears (the host sees an I/O error); the board keeps running."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
            self._path = None
            self._wire = bridge_core.Deframer()
            if self.link is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.link.unlink()

    def replug(self) -> None:
        """Plug the cable back in: a new pty (a re-enumerated USB device gets a new node too)."""
        with self._lock:
            if self._path is not None:
                return
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo or line discipline before the host configures the port
            os.set_blocking(master, False)
            self._master, self._slave = master, slave
            self._path = os.ttyname(slave)
            if self.link is not None:
                tmp = self.link.with_name(self.link.name + ".tmp")
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                tmp.symlink_to(self._path)
                tmp.replace(self.link)

    def reboot(self, boot_id: int | None = None) -> None:
        """Power-cycle the board: a new boot id, every output and queued event gone."""
        with self._lock:
            self.hw = SimHardware()
            self.firmware = self._boot(boot_id)

    # ------------------------------------------------------------------ fault injection and probes
    def press(self, button: int) -> None:
        """Press a hardware button."""
        with self._lock:
            self.firmware.button(button, self._clock())

    def drop_rx(self, count: int = 1, msg_type: int | None = None) -> None:
        """Lose the next `count` host frames (of one type, or any) on the wire."""
        with self._lock:
            self._drop_rx[msg_type] = self._drop_rx.get(msg_type, 0) + count

    def drop_tx(self, count: int = 1, msg_type: int | None = None) -> None:
        """Lose the next `count` device frames (of one type, or any) on the wire."""
        with self._lock:
            self._drop_tx[msg_type] = self._drop_tx.get(msg_type, 0) + count

    def clear_drops(self) -> None:
        """Stop losing frames."""
        with self._lock:
            self._drop_rx.clear()
            self._drop_tx.clear()

    def inject_tx(self, data: bytes) -> None:
        """Put raw bytes (noise) on the line towards the host."""
        with self._lock:
            self.hw.outbox.append(bytes(data))

    def inject_rx(self, data: bytes) -> None:
        """Feed raw bytes (noise) to the firmware as if they came from the host."""
        with self._lock:
            self.firmware.feed(data, self._clock())

    def snapshot(self) -> SimSnapshot:
        """The outputs and link state now."""
        with self._lock:
            fw, hw = self.firmware, self.hw
            now = self._clock()
            return SimSnapshot(
                levels=list(hw.levels), cct_k=list(hw.cct_k), lens=hw.lens, camera=list(hw.camera),
                camera_pulses=list(hw.camera_pulses), safe=fw.is_safe(now), linked=fw.linked,
                executed=fw.executed, queued_events=len(fw.events), plugged=self._path is not None,
                boot_id=fw.boot_id)

    def close(self) -> None:
        """Stop the board and remove its pty."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self.unplug()
        with _REGISTRY_LOCK:
            if _REGISTRY.get(self.name) is self:
                del _REGISTRY[self.name]

    # ------------------------------------------------------------------ the board's main loop
    def _baud(self) -> int:
        fd = self._slave
        if fd is None:
            return 115200
        try:
            return _BAUD_BY_CODE.get(termios.tcgetattr(fd)[4], 115200)
        except termios.error:
            return 115200

    def _wire_wait(self, free_at: float, nbytes: int) -> float:
        """Hold until `nbytes` have crossed the wire at the port's baud rate (10 bits a byte)."""
        if not self.model_wire:
            return free_at
        done = max(time.monotonic(), free_at) + nbytes * 10.0 / self._baud()
        while True:
            left = done - time.monotonic()
            if left <= 0:
                return done
            if left > 0.0004:
                time.sleep(left - 0.0003)

    def _run(self) -> None:
        while not self._stop.is_set():
            master = self._master
            data = b""
            if master is None:
                time.sleep(TICK_S)
            else:
                try:
                    readable, _, _ = select.select([master], [], [], TICK_S)
                    if readable:
                        data = os.read(master, 4096)
                except OSError:
                    data = b""  # the pty was closed under us by unplug(); the next loop sees it
            if data:
                self._rx_free_at = self._wire_wait(self._rx_free_at, len(data))
            with self._lock:
                now = self._clock()
                if data:
                    self._receive(data, now)
                self.firmware.tick(now)
                out = list(self.hw.outbox)
                self.hw.outbox.clear()
            for frame in out:
                self._transmit(frame)

    def _receive(self, data: bytes, now: int) -> None:
        if not self._drop_rx:
            self.firmware.feed(data, now)
            return
        # with drops armed, cut the stream into frames on the wire so that whole frames vanish
        for seq, msg_type, payload in self._wire.feed(data, now):
            if self._take(self._drop_rx, msg_type):
                self.dropped_rx += 1
                continue
            self.firmware.feed(bridge_core.build_frame(seq, msg_type, payload), now)

    @staticmethod
    def _take(drops: dict[int | None, int], msg_type: int) -> bool:
        for key in (msg_type, None):
            if drops.get(key, 0) > 0:
                drops[key] -= 1
                if not drops[key]:
                    del drops[key]
                return True
        return False

    def _transmit(self, frame: bytes) -> None:
        with self._lock:
            is_frame = len(frame) > 4 and frame[:2] == b"\xa5\x5a"
            if self._drop_tx and is_frame and self._take(self._drop_tx, frame[4]):
                self.dropped_tx += 1
                return
        self._tx_free_at = self._wire_wait(self._tx_free_at, len(frame))
        with self._lock:
            master = self._master
            if master is None:
                return
            try:
                os.write(master, frame)
            except BlockingIOError:
                self.tx_overflow_bytes += len(frame)  # nobody reads: USB CDC drops too
            except OSError as err:
                if err.errno not in (errno.EIO, errno.EBADF):
                    raise


_REGISTRY: dict[str, SimDevice] = {}
_REGISTRY_LOCK = threading.Lock()


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """Split `sim://NAME?k=v` into the name and its options; raise BridgeConfigError on unknown ones."""
    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise BridgeConfigError(f"not a simulator URL: {url} (expected sim://NAME?options)")
    name = (parts.netloc + parts.path).strip("/") or "default"
    options = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(options) - {"proto", "wire", "link", "boot_id"}
    if unknown:
        raise BridgeConfigError(
            f"unknown sim:// option(s) {', '.join(sorted(unknown))} in {url} "
            "(known: proto, wire, link, boot_id)")
    return name, options


def _create(name: str, options: dict[str, str]) -> SimDevice:
    kwargs: dict[str, object] = {}
    try:
        if "proto" in options:
            major, _, minor = options["proto"].partition(".")
            kwargs["major"], kwargs["minor"] = int(major), int(minor or 0)
        if "wire" in options:
            kwargs["model_wire"] = options["wire"] not in ("0", "false", "no")
        if "boot_id" in options:
            kwargs["boot_id"] = int(options["boot_id"], 0)
    except ValueError as err:
        raise BridgeConfigError(f"bad sim:// option value in {options}: {err}") from err
    if options.get("link"):
        kwargs["link"] = Path(options["link"])
    return SimDevice(name, **kwargs)  # type: ignore[arg-type]  # reason: kwargs checked above


def attach(url: str) -> str:
    """Start the simulator a URL names (once per name) and return its current pty path."""
    name, options = parse_url(url)
    with _REGISTRY_LOCK:
        device = _REGISTRY.get(name)
        if device is None:
            device = _REGISTRY[name] = _create(name, options)
    return device.path


def get_sim(name_or_url: str = "default") -> SimDevice:
    """The running simulator with this name (or URL); KeyError if none was started."""
    name = parse_url(name_or_url)[0] if "://" in name_or_url else name_or_url
    with _REGISTRY_LOCK:
        return _REGISTRY[name]


def start(url: str) -> SimDevice:
    """Start (or find) the simulator a URL names and return it."""
    attach(url)
    return get_sim(url)


def main(argv: list[str] | None = None) -> int:
    """Run one simulated controller until interrupted, printing its pty path."""
    import argparse

    parser = argparse.ArgumentParser(description="Run the kiosk controller firmware on a pseudo-terminal.")
    parser.add_argument("--link", type=Path, help="keep a symlink to the pty here, e.g. /tmp/ttyKIOSK")
    parser.add_argument("--no-wire", action="store_true", help="do not model the time on the wire")
    args = parser.parse_args(argv)
    device = SimDevice("standalone", link=args.link, model_wire=not args.no_wire)
    print(f"simulated controller on {device.path}" + (f" (link {args.link})" if args.link else ""),  # noqa: T201  # reason: CLI output
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        device.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
