"""`kiosk bridge selftest | monitor`: check the lights/camera/button controller, or watch it live."""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import time
from typing import Any

from kiosk.commands import Subparsers
from kiosk.errors import InputError, KioskError

SELFTEST_LEVEL = 600  # permille; bright enough to see, short enough not to dazzle anyone nearby


def register(sub: Subparsers) -> None:
    """Add the `bridge` command group."""
    p = sub.add_parser("bridge", help="the USB controller of lights, camera remote and buttons")
    bsub = p.add_subparsers(dest="bridge_cmd", metavar="ACTION", required=True)
    for name, func, text in (
        ("selftest", _selftest, "handshake, cycle every light, fire the camera outputs, round-trip a button; "
                                "print a JSON summary, exit 0 when all passed"),
        ("monitor", _monitor, "print live link state, events and status as JSON lines until Ctrl-C"),
    ):
        c = bsub.add_parser(name, help=text)
        c.add_argument("--port", required=True,
                       help="serial port or URL: /dev/ttyACM0, /dev/serial/by-id/..., sim:// (simulator)")
        c.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
        c.add_argument("--timeout", type=float, default=5.0,
                       help="seconds to wait for the handshake (default 5)")
        if name == "monitor":
            c.add_argument("--interval", type=float, default=1.0,
                           help="seconds between status lines (default 1)")
            c.add_argument("--duration", type=float, default=0.0,
                           help="stop this many seconds after the link is ready (0: never)")
        c.set_defaults(func=func)


def _emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)  # noqa: T201  # reason: CLI output


def _config(args: argparse.Namespace) -> Any:
    from firmware_bridge.errors import BridgeConfigError
    from firmware_bridge.link import LinkConfig

    if args.timeout <= 0 or args.timeout > 600:
        raise InputError(f"--timeout {args.timeout} must be within 0..600 seconds")
    try:
        return LinkConfig(baudrate=args.baud)
    except BridgeConfigError as err:
        raise InputError(f"--baud {args.baud}: {err}") from err


def _selftest(args: argparse.Namespace) -> int:
    from firmware_bridge.client import BridgeClient, ButtonPressed, CameraOutput, LensPattern, Scene
    from firmware_bridge.messages import SCENE_LEVELS, Button

    config = _config(args)
    failures: list[str] = []
    summary: dict[str, Any] = {"port": args.port, "baud": args.baud}
    presses: queue.Queue[ButtonPressed] = queue.Queue()
    with BridgeClient(args.port, config) as bridge:
        bridge.on_event(lambda ev: presses.put(ev) if isinstance(ev, ButtonPressed) else None)
        info = bridge.wait_ready(args.timeout)
        summary.update(firmware_id=info.firmware_id, protocol="{}.{}".format(*info.protocol),
                       boot_id=info.boot_id)
        round_trips: list[float] = []

        def timed(call: Any, *a: Any, **kw: Any) -> Any:
            start = time.monotonic()
            result = call(*a, **kw)
            round_trips.append((time.monotonic() - start) * 1000.0)
            return result

        bridge.safe_state()
        channels = []
        for channel in range(info.light_channels):
            cct = 5600 if channel in info.cct_channels else 0
            timed(bridge.set_light, channel, SELFTEST_LEVEL, cct_k=cct, max_ms=3000)
            seen = timed(bridge.status).levels[channel]
            timed(bridge.set_light, channel, 0, max_ms=1)
            back = timed(bridge.status).levels[channel]
            ok = seen == SELFTEST_LEVEL and back == 0
            channels.append(
                {"channel": channel, "cct": bool(cct), "level_seen": seen, "off_seen": back, "ok": ok})
            if not ok:
                failures.append(f"light channel {channel} read back {seen} then {back}")
        summary["lights"] = channels
        scenes = {}
        for scene in Scene:
            timed(bridge.scene, scene, fade_ms=0, max_ms=3000)
            levels = timed(bridge.status).levels[: info.light_channels]
            scenes[scene.name.lower()] = ok = list(levels) == list(SCENE_LEVELS[scene][: info.light_channels])
            if not ok:
                failures.append(f"scene {scene.name} read back {list(levels)}")
        summary["scenes"] = scenes
        timed(bridge.lens_cue, LensPattern.ON, max_ms=2000)
        lens_ok = timed(bridge.status).lens is LensPattern.ON
        summary["lens_led"] = lens_ok
        if not lens_ok:
            failures.append("the lens LED did not report ON")
        camera = {}
        for output in sorted(info.camera_outputs):
            timed(bridge.camera_pulse, CameraOutput(output), pulse_ms=50)
            camera[CameraOutput(output).name.lower()] = True
        summary["camera_outputs"] = camera
        start = time.monotonic()
        bridge.selftest_button(Button.START)
        try:
            event = presses.get(timeout=2.0)
            summary["button_round_trip_ms"] = round((time.monotonic() - start) * 1000.0, 2)
            if event.button is not Button.START or not event.synthetic:
                failures.append(f"button round trip returned {event}")
        except queue.Empty:
            failures.append("the synthetic START button press did not come back within 2 s")
        bridge.safe_state()
        status = bridge.status()
        if not status.safe:
            failures.append("outputs are not in the safe state after the self-test")
        summary["status"] = {"uptime_ms": status.uptime_ms, "temperature_c": status.temperature_c,
                             "faults": [f.name for f in type(status.faults) if f in status.faults],
                             "safe": status.safe, "lost_events": status.lost_events}
        summary["round_trip_ms"] = {"median": round(statistics.median(round_trips), 3),
                                    "max": round(max(round_trips), 3), "commands": len(round_trips)}
        summary["link"] = bridge.stats
    summary["ok"] = not failures
    summary["failures"] = failures
    _emit(summary)
    if failures:
        raise KioskError(f"bridge self-test failed: {failures[0]} (see the JSON summary)")
    return 0


def _monitor(args: argparse.Namespace) -> int:
    from firmware_bridge.client import BridgeClient, BridgeEvent, LinkState
    from firmware_bridge.errors import BridgeError

    config = _config(args)
    if not 0.05 <= args.interval <= 3600:
        raise InputError(f"--interval {args.interval} must be within 0.05..3600 seconds")
    lines: queue.Queue[dict[str, Any]] = queue.Queue()

    def on_event(event: BridgeEvent) -> None:
        fields = {k: (v.name if hasattr(v, "name") else v) for k, v in vars(event).items()}
        lines.put({"event": type(event).__name__, **fields})

    def on_state(state: LinkState) -> None:
        lines.put({"link": state.value})

    with BridgeClient(args.port, config) as bridge:
        bridge.on_event(on_event)
        bridge.on_state(on_state)
        info = bridge.wait_ready(args.timeout)
        # counted from ready, so a slow handshake on a loaded host does not eat the watch
        end = time.monotonic() + args.duration if args.duration > 0 else float("inf")
        _emit({"link": bridge.state.value, "firmware_id": info.firmware_id,
               "protocol": "{}.{}".format(*info.protocol)})
        next_status = time.monotonic()
        while time.monotonic() < end:
            try:
                _emit(lines.get(timeout=max(0.0, min(next_status, end) - time.monotonic())))
                continue
            except queue.Empty:
                pass
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + args.interval
                try:
                    s = bridge.status(timeout_ms=1000)
                except BridgeError as err:
                    _emit({"link": bridge.state.value, "status": None, "error": str(err)})
                    continue
                _emit({"link": bridge.state.value, "uptime_ms": s.uptime_ms, "temperature_c": s.temperature_c,
                       "levels": list(s.levels), "lens": s.lens.name, "safe": s.safe,
                       "faults": [f.name for f in type(s.faults) if f in s.faults],
                       "queued_events": s.queued_events, "lost_events": s.lost_events})
        while not lines.empty():
            _emit(lines.get_nowait())
    return 0
