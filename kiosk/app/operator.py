"""The operator's way in, without Kivy: PIN hashing, a PIN gate with a persisted lockout, the tap gesture."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from kiosk.errors import InputError

log = logging.getLogger(__name__)

ITERATIONS = 120_000
PIN_DIGITS = (6, 12)
PIN_STATE = Path("operator") / "pin-gate.json"  # under the data folder


def pin_state_file(data_dir: Path) -> Path:
    """Where the PIN gate keeps its wrong-PIN count and lockout across restarts."""
    return Path(data_dir) / PIN_STATE


def hash_pin(pin: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """`pbkdf2_sha256$iterations$salt-hex$hash-hex` for a PIN of 6..12 digits."""
    lo, hi = PIN_DIGITS
    if not (pin.isascii() and pin.isdigit() and lo <= len(pin) <= hi):
        raise InputError(f"the operator PIN must be {lo} to {hi} digits")
    if len(set(pin)) == 1 or pin in "01234567890123456789" or pin in "98765432109876543210":
        raise InputError("the operator PIN is too easy to guess (one digit repeated, or a run): choose another")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, encoded: str | None) -> bool:
    """Whether pin matches an encoded hash (constant-time comparison); never with no hash set."""
    if not encoded or not pin.isascii() or not pin.isdigit() or len(pin) > PIN_DIGITS[1]:
        return False
    try:
        algo, iters, salt_hex, hash_hex = encoded.split("$")
        if algo != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt_hex), int(iters))
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), hash_hex)


class PinGate:
    """Counts wrong PINs and locks after `max_tries` of them: `lockout_s`, doubling each further lock.

    With a `state_file` the count and the lock survive a restart (pulling the plug does not reset the
    lockout). The file is owner-only and written atomically; it holds the lock's end in wall-clock
    seconds, which is only read at start (in-process the lock runs on the monotonic clock) and never
    trusted for more than the lock's own length, so a clock set back cannot lengthen it.
    """

    def __init__(
        self,
        pin_hash: str | None,
        max_tries: int,
        lockout_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_lockout_s: float = 86400.0,
        state_file: Path | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """Prepare the gate, reading the state file when there is one.

        Args:
            pin_hash: as from hash_pin (None: no PIN opens the gate).
            max_tries: wrong PINs before a lock.
            lockout_s: the first lock, s; each further one doubles, up to max_lockout_s, s.
            clock: monotonic seconds.
            max_lockout_s: the longest lock, s.
            state_file: where the count and the lock survive restarts (None: memory only).
            wall: wall-clock seconds (only for the state file).
        """
        self.pin_hash = pin_hash
        self.max_tries = max_tries
        self.lockout_s = lockout_s
        self.max_lockout_s = max(lockout_s, max_lockout_s)
        self.clock = clock
        self.wall = wall
        self.state_file = state_file
        self.failures = 0
        self.lockouts = 0  # locks since the last right PIN: the next lasts lockout_s * 2**lockouts
        self.locked_until = 0.0
        self._lock_s = 0.0
        self._load()

    def locked_for(self) -> float:
        """Seconds of lockout left (0 when open)."""
        return max(0.0, self.locked_until - self.clock())

    def next_lock_s(self) -> float:
        """How long the next lock lasts, s."""
        return min(self.max_lockout_s, self.lockout_s * 2.0 ** min(self.lockouts, 40))

    def try_pin(self, pin: str) -> bool:
        """Check a PIN; False when wrong or while locked (a locked gate does not even check)."""
        if self.locked_for() > 0:
            return False
        if verify_pin(pin, self.pin_hash):
            self.failures = 0
            self.lockouts = 0
            self._save()
            return True
        self.failures += 1
        if self.failures >= self.max_tries:
            self.failures = 0
            self._lock_s = self.next_lock_s()
            self.locked_until = self.clock() + self._lock_s
            self.lockouts += 1
            log.warning("operator PIN pad locked for %.0f s after %d wrong PINs", self._lock_s, self.max_tries)
        self._save()
        return False

    def _save(self) -> None:
        if self.state_file is None:
            return
        from models.store import atomic_write_bytes

        left = self.locked_for()
        state = {
            "failures": self.failures,
            "lockouts": self.lockouts,
            "locked_until": self.wall() + left if left > 0 else 0.0,
            "lock_s": self._lock_s if left > 0 else 0.0,
        }
        try:
            self.state_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                os.chmod(self.state_file.parent, 0o700)
            atomic_write_bytes(self.state_file, json.dumps(state).encode(), 0o600)
        except OSError as err:
            log.warning("cannot save the PIN pad's lockout state: %s", err.strerror)

    def _load(self) -> None:
        if self.state_file is None:
            return
        try:
            state = json.loads(self.state_file.read_bytes())
            failures = int(state["failures"])
            lockouts = int(state["lockouts"])
            until = float(state["locked_until"])
            lock_s = float(state["lock_s"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as err:
            # A damaged file must not open the gate: treat it as a fresh lock of the longest kind.
            log.warning("PIN pad state unreadable (%s): locked as after many wrong PINs", type(err).__name__)
            self.lockouts = 8
            self._lock_s = self.next_lock_s()
            self.locked_until = self.clock() + self._lock_s
            return
        self.failures = max(0, min(failures, self.max_tries - 1))
        self.lockouts = max(0, min(lockouts, 64))
        left = max(0.0, min(until - self.wall(), lock_s, self.max_lockout_s))
        if left > 0:
            self._lock_s = lock_s
            self.locked_until = self.clock() + left


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


COUNTERS = Path("operator") / "counters.json"  # under the data folder, beside the PIN gate's state
COUNTER_NAMES = ("sessions", "completed", "abandoned", "failsafe", "prints")


class CounterFile:
    """The operator's counters kept across restarts: owner-only, written atomically when they change."""

    def __init__(self, data_dir: Path) -> None:
        """Counters of the kiosk whose data folder is data_dir."""
        self.path = Path(data_dir) / COUNTERS
        self._saved: dict[str, int] = {}

    def load(self) -> dict[str, int]:
        """The saved counters (zeros when none were saved; a damaged file is logged and counted afresh)."""
        counts = dict.fromkeys(COUNTER_NAMES, 0)
        try:
            data = json.loads(self.path.read_bytes())
            for name in COUNTER_NAMES:
                counts[name] = max(0, int(data.get(name, 0)))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, AttributeError) as err:
            log.warning("operator counters unreadable (%s): counting from zero", type(err).__name__)
        self._saved = dict(counts)
        return counts

    def save(self, counts: dict[str, int]) -> None:
        """Write the counters when they differ from the last saved ones (a failed write is only logged)."""
        now = {name: int(counts.get(name, 0)) for name in COUNTER_NAMES}
        if now == self._saved:
            return
        from models.store import atomic_write_bytes

        try:
            atomic_write_bytes(self.path, json.dumps(now).encode(), 0o600)
        except OSError as err:
            log.warning("cannot save the operator counters: %s", err.strerror)
            return
        self._saved = now
