"""Error tree of the kiosk app, translated to exit codes and guest messages at the boundary."""

from __future__ import annotations


class KioskError(Exception):
    """Base of every error the kiosk raises on purpose."""

    exit_code = 1
    transient = False


class InputError(KioskError):
    """Bad input from outside (a file, an argument, a config value): exit 2, one line saying how to fix it."""

    exit_code = 2


class NoUsableFace(InputError):
    """The photo holds no face the pipeline can turn into a headshot; the message says why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConfigError(InputError):
    """The configuration file is missing, unreadable or invalid."""


class ModelError(KioskError):
    """A model file is missing, corrupt or cannot be loaded."""


class TransientError(KioskError):
    """A failure that may clear by itself (device busy, link down): retry, "one moment please"."""

    transient = True
