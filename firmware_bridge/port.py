"""Open a serial port by URL through pyserial: `sim://`, `loop://` and `/dev/ttyACM0` share one code path."""

from __future__ import annotations

import serial

from firmware_bridge.errors import PortError

# pyserial looks up "<scheme>://" as the module "<package>.protocol_<scheme>"; ours is protocol_sim.
if "firmware_bridge" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("firmware_bridge")


def open_port(url: str, baudrate: int, timeout_s: float = 0.02) -> serial.SerialBase:
    """Open a port URL (a device path, `sim://NAME?...`, any pyserial URL); raise PortError with a fix."""
    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout_s, write_timeout=1.0,
                                     exclusive=True if "://" not in url else None)
    except (serial.SerialException, OSError, ValueError) as err:
        raise PortError(
            f"cannot open serial port {url}: {err} (check the USB cable, `ls /dev/ttyACM*`, "
            "and that this user may open it: see the udev note in README.md)"
        ) from err
    return port
