"""Error tree of the firmware bridge; the kiosk translates these at its boundary (exit 2, guest message)."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""

    transient = False


class PortError(BridgeError):
    """The serial port cannot be opened (absent, busy, no permission)."""

    transient = True


class LinkDown(BridgeError):
    """The link to the controller is not up; the command was not delivered (retry later)."""

    transient = True


class CommandTimeout(LinkDown):
    """No acknowledgement after every retry; the command may or may not have run."""


class QueueFull(BridgeError):
    """The bounded command queue is full; the caller should drop or retry the command."""

    transient = True


class ProtocolMismatch(BridgeError):
    """The controller speaks another protocol major version: reflash the firmware or update the kiosk."""


class CommandRejected(BridgeError):
    """The controller refused a command (bad value, unsupported on this board)."""

    def __init__(self, message: str, result: int) -> None:
        super().__init__(message)
        self.result = result


class InvalidCommand(BridgeError, ValueError):
    """A command argument is out of the protocol's range; nothing was sent."""


class FrameError(BridgeError):
    """A frame from the controller is malformed (wrong length, out-of-range field, unknown type)."""


class DeviceRestarted(LinkDown):
    """The controller rebooted while a command was in flight; its effect is unknown."""


class BridgeConfigError(BridgeError, ValueError):
    """A link setting is out of range; the message names it."""
