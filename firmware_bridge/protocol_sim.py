"""pyserial URL handler for `sim://NAME?options`: the firmware simulator behind a pseudo-terminal.

`serial.serial_for_url("sim://bench")` starts (or re-attaches to) the simulated controller named
"bench" and opens its pty with the ordinary POSIX serial class, so everything above the fd is the
code that drives a real /dev/ttyACM0. Options are listed in firmware_bridge.sim.
"""

from __future__ import annotations

import serial
import serial.serialposix


class Serial(serial.serialposix.Serial):
    """A POSIX serial port whose URL names a simulated controller instead of a device path."""

    def open(self) -> None:
        """Attach to (starting if needed) the named simulator and open its current pty."""
        from firmware_bridge import sim
        from firmware_bridge.errors import BridgeError

        url = self.port
        if not isinstance(url, str):
            raise serial.SerialException("sim:// port must be a string URL")
        try:
            path = sim.attach(url)
        except BridgeError as err:
            raise serial.SerialException(str(err)) from err
        # PosixSerial opens self.portstr (= self.name); point both at the pty while it opens
        self._port = self.portstr = self.name = path
        try:
            super().open()
        finally:
            self._port = self.portstr = self.name = url
