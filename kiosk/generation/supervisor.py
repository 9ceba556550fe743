"""Supervises the generation worker process: start-up, jobs, watchdog, restarts and the crash-loop limit.

The watchdog keeps a monotonic in-flight timestamp, refreshed by every progress message of the running
job. A job whose worker dies, or that makes no progress for `hang_timeout_s` (or runs past
`job_timeout_s`), gets the worker killed and restarted; more than `max_restarts` restarts within
`restart_window_s` disable generation until the supervisor is recreated. Every failure surfaces as
GenerationFailed or GenerationUnavailable so the caller can deliver the studio result instead.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.generation.base import (
    CancelFn,
    Generated,
    GenerationCancelledError,
    GenerationFailed,
    GenerationUnavailable,
    ProgressFn,
)
from kiosk.generation.config import GenerationConfig
from kiosk.generation.worker import serve

log = logging.getLogger(__name__)
_POLL_S = 0.05


class SupervisedGenerator:
    """A Generator backed by a supervised worker process (one job at a time)."""

    def __init__(
        self,
        pack_dir: Path,
        config: GenerationConfig,
        target: Callable[..., None] = serve,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the supervisor; the worker starts on start() or the first job.

        Args:
            pack_dir: the model pack folder.
            config: watchdog limits and the runtime config passed to the worker.
            target: the worker entry point (a module-level function; tests pass fakes).
            clock: monotonic clock in seconds.
        """
        from models.diffusion.pack import read_manifest

        self.pack_dir = Path(pack_dir)
        self.config = config
        manifest = read_manifest(self.pack_dir)
        self.size = (manifest.width, manifest.height)
        self._target = target
        self._clock = clock
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None
        self._cancel = self._ctx.Event()
        self._ready = False
        self._restarts: collections.deque[float] = collections.deque()
        self._disabled: str | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.in_flight_since: float | None = None
        self.info: dict[str, Any] = {}
        self.restart_count = 0

    # -- process management ------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """Process id of the current worker (None when not running)."""
        return self._proc.pid if self._proc is not None else None

    def _spawn(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        runtime = self.config.runtime.model_dump(mode="json")
        self._proc = self._ctx.Process(
            target=self._target,
            args=(child, str(self.pack_dir), runtime, self._cancel),
            name="kiosk-generation",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._conn = parent
        self._ready = False

    def _kill(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        self._ready = False
        if conn is not None:
            conn.close()
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(2.0)

    def _restart(self, why: str) -> None:
        """Kill the worker and start a new one, unless that makes a crash loop."""
        log.warning("generation worker restart: %s", why)
        self._kill()
        now = self._clock()
        self._restarts.append(now)
        while self._restarts and now - self._restarts[0] > self.config.restart_window_s:
            self._restarts.popleft()
        if len(self._restarts) > self.config.max_restarts:
            self._disabled = (
                f"the generation worker failed {len(self._restarts)} times within "
                f"{self.config.restart_window_s:.0f} s (last: {why}); "
                "generation is off until the kiosk restarts"
            )
            log.error("%s", self._disabled)
            return
        self.restart_count += 1
        self._spawn()

    def start(self) -> None:
        """Start the worker and wait until it has loaded and warmed up the pack."""
        with self._lock:
            self._ensure_ready()

    def _ensure_ready(self) -> None:
        if self._disabled:
            raise GenerationUnavailable(self._disabled)
        if self._proc is None or not self._proc.is_alive():
            if self._proc is not None:
                self._restart(f"worker exited (code {self._proc.exitcode})")
                if self._disabled:
                    raise GenerationUnavailable(self._disabled)
            else:
                self._spawn()
        if self._ready:
            return
        assert self._conn is not None and self._proc is not None
        deadline = self._clock() + self.config.start_timeout_s
        while self._clock() < deadline:
            if self._conn.poll(_POLL_S):
                try:
                    msg = self._conn.recv()
                except (EOFError, OSError):
                    msg = ("fatal", f"worker exited during start-up (code {self._proc.exitcode})")
                if msg[0] == "ready":
                    self._ready = True
                    self.info = dict(msg[1])
                    return
                if msg[0] == "fatal":
                    # A pack or runtime that cannot load will not load on retry: disable at once.
                    self._kill()
                    self._disabled = f"the generation worker cannot start: {msg[1]}"
                    raise GenerationUnavailable(self._disabled)
            elif not self._proc.is_alive():
                self._restart(f"worker died during start-up (code {self._proc.exitcode})")
                raise GenerationFailed("the generation worker died while starting")
        self._restart("start-up timed out")
        raise GenerationFailed(f"the generation worker did not start within {self.config.start_timeout_s:.0f} s")

    # -- jobs ----------------------------------------------------------------------------------------
    def generate(
        self,
        rgb: np.ndarray,
        style: str,
        *,
        mask: np.ndarray | None = None,
        seed: int,
        steps: int | None = None,
        strength: float | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> Generated:
        """Run one job in the worker, watching it; see the module docstring for the failure rules."""
        with self._lock:
            self._ensure_ready()
            assert self._conn is not None and self._proc is not None
            job_id = next(self._ids)
            payload = {
                "image": np.ascontiguousarray(rgb, np.float32),
                "mask": None if mask is None else np.ascontiguousarray(mask, np.float32),
                "style": style,
                "seed": int(seed),
                "steps": steps,
                "strength": strength,
            }
            self._cancel.clear()
            try:
                self._conn.send(("job", job_id, payload))
            except (OSError, ValueError) as err:
                self._restart(f"cannot send the job: {err}")
                raise GenerationFailed("the generation worker is not reachable") from err
            started = self.in_flight_since = self._clock()
            try:
                return self._wait(job_id, seed, started, progress, cancel)
            finally:
                self.in_flight_since = None

    def _wait(
        self, job_id: int, seed: int, started: float, progress: ProgressFn | None, cancel: CancelFn | None
    ) -> Generated:
        assert self._conn is not None and self._proc is not None
        cancel_sent = False
        while True:
            if cancel is not None and not cancel_sent and cancel():
                self._cancel.set()
                cancel_sent = True
            if self._conn.poll(_POLL_S):
                try:
                    msg = self._conn.recv()
                except (EOFError, OSError):
                    code = self._proc.exitcode
                    self._restart(f"worker crashed during a job (code {code})")
                    raise GenerationFailed(f"the generation worker crashed (exit code {code})") from None
                kind = msg[0]
                if msg[1] != job_id:
                    continue  # a late message of an earlier job
                if kind == "progress":
                    self.in_flight_since = self._clock()
                    if progress is not None:
                        progress(int(msg[2]), int(msg[3]))
                elif kind == "result":
                    return Generated(np.asarray(msg[2], np.float32), seed, int(msg[4]), dict(msg[3]))
                elif kind == "cancelled":
                    raise GenerationCancelledError("generation cancelled")
                elif kind == "error":
                    raise GenerationFailed(f"generation failed: {msg[2]}")
                continue
            now = self._clock()
            if not self._proc.is_alive():
                code = self._proc.exitcode
                self._restart(f"worker crashed during a job (code {code})")
                raise GenerationFailed(f"the generation worker crashed (exit code {code})")
            assert self.in_flight_since is not None
            if now - self.in_flight_since > self.config.hang_timeout_s:
                self._restart(f"no progress for {now - self.in_flight_since:.1f} s")
                raise GenerationFailed(f"the generation worker hung (no progress for {self.config.hang_timeout_s} s)")
            if now - started > self.config.job_timeout_s:
                self._restart(f"job ran past {self.config.job_timeout_s} s")
                raise GenerationFailed(f"generation took longer than {self.config.job_timeout_s:.0f} s")

    def check(self) -> bool:
        """Watchdog tick for idle time: restart a worker that died between jobs; True if one was restarted.

        Call it periodically (e.g. once a second from the app's clock) so that a replacement loads and
        warms up before the next guest; returns at once when a job is running.
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._disabled or self._proc is None or self._proc.is_alive():
                return False
            self._restart(f"worker exited while idle (code {self._proc.exitcode})")
            return self._disabled is None
        finally:
            self._lock.release()

    @property
    def disabled_reason(self) -> str | None:
        """Why generation is off (crash loop, start-up failure), or None."""
        return self._disabled

    def close(self) -> None:
        """Stop the worker (politely, then by force)."""
        with self._lock:
            if self._conn is not None and self._proc is not None and self._proc.is_alive():
                with contextlib.suppress(OSError, ValueError):
                    self._conn.send(("stop",))
                self._proc.join(3.0)
            self._kill()

    def __enter__(self) -> SupervisedGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
