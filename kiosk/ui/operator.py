"""The operator's way in, without Kivy: PIN hashing, a PIN gate with lockout, the hidden tap gesture."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable

from kiosk.errors import InputError

ITERATIONS = 120_000


def hash_pin(pin: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """`pbkdf2_sha256$iterations$salt-hex$hash-hex` for a PIN of 4..12 digits."""
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise InputError("the operator PIN must be 4 to 12 digits")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, encoded: str) -> bool:
    """Whether pin matches an encoded hash (constant-time comparison)."""
    try:
        algo, iters, salt_hex, hash_hex = encoded.split("$")
        if algo != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt_hex), int(iters))
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), hash_hex)


class PinGate:
    """Counts wrong PINs and locks for `lockout_s` after `max_tries` of them."""

    def __init__(self, pin_hash: str, max_tries: int, lockout_s: float, clock: Callable[[], float] = time.monotonic):
        """Args: pin_hash as from hash_pin; lockout_s in seconds; clock is monotonic seconds."""
        self.pin_hash = pin_hash
        self.max_tries = max_tries
        self.lockout_s = lockout_s
        self.clock = clock
        self.failures = 0
        self.locked_until = 0.0

    def locked_for(self) -> float:
        """Seconds of lockout left (0 when open)."""
        return max(0.0, self.locked_until - self.clock())

    def try_pin(self, pin: str) -> bool:
        """Check a PIN; False when wrong or while locked (a locked gate does not even check)."""
        if self.locked_for() > 0:
            return False
        if verify_pin(pin, self.pin_hash):
            self.failures = 0
            return True
        self.failures += 1
        if self.failures >= self.max_tries:
            self.failures = 0
            self.locked_until = self.clock() + self.lockout_s
        return False


class CornerTaps:
    """The hidden gesture: `count` taps inside the corner region within `window_s` seconds."""

    def __init__(self, count: int = 5, window_s: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        """Args: count taps; window_s seconds; clock is monotonic seconds."""
        self.count = count
        self.window_s = window_s
        self.clock = clock
        self._taps: list[float] = []

    def tap(self, in_corner: bool) -> bool:
        """Register a tap; True when this tap completes the gesture."""
        now = self.clock()
        if not in_corner:
            self._taps.clear()
            return False
        self._taps = [t for t in self._taps if now - t <= self.window_s] + [now]
        if len(self._taps) >= self.count:
            self._taps.clear()
            return True
        return False
