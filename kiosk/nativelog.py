"""Keep native libraries' stderr chatter out of the guest's and operator's terminal.

MediaPipe's LiteRT runtime writes notices straight to file descriptor 2 from C++ (for example "Input tensor
memory is not aligned … Reallocating memory", which depends on where malloc happened to put a buffer, and
absl's "Logging before InitGoogle()"). No environment variable silences them, and a CLI whose error line
is sometimes preceded by two lines of C++ log is not one a script can parse.

:func:`divert_native_stderr` points fd 2 at a size-capped file under the data folder's ``logs/`` and gives
Python's ``sys.stderr`` a private duplicate of the original terminal, so every line the kiosk itself writes
(error lines, log records, tracebacks) still reaches the terminal or journal, while C/C++ output (and that
of child processes that inherit fd 2) lands in ``native.log``. Writes to the file are plain ``write(2)``
calls, so a native abort's last words are on disk even when the process dies with them.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

NATIVE_LOG = "native.log"
_diverted: Path | None = None
_terminal_fd: int | None = None


def divert_native_stderr(logs_dir: Path, max_bytes: int = 1 << 20) -> Path | None:
    """Send fd 2 to logs_dir/native.log and keep Python's stderr on the original stream.

    Args:
        logs_dir: folder for the file (created, mode 0750).
        max_bytes: when the file is larger at start, it is moved to native.log.1 (one generation kept).

    Returns:
        The file's path, or None when the folder cannot be written (stderr is then left as it was).
    """
    global _diverted, _terminal_fd
    if _diverted is not None:
        return _diverted
    path = Path(logs_dir) / NATIVE_LOG
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size > max_bytes:
                path.replace(path.with_name(NATIVE_LOG + ".1"))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    except OSError:
        return None
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
    except (OSError, ValueError):
        os.close(fd)
        return None
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    os.dup2(fd, 2)  # inheritable: children's stderr goes to the file too
    os.close(fd)
    sys.stderr = io.TextIOWrapper(
        io.FileIO(terminal, "w", closefd=True), encoding=encoding, errors="backslashreplace",
        line_buffering=True, write_through=True,
    )
    _diverted, _terminal_fd = path, terminal
    return path


def restore_stderr() -> None:
    """Put the original stream back on fd 2 (before exec: the next process image finds it there)."""
    if _terminal_fd is not None:
        sys.stderr.flush()
        os.dup2(_terminal_fd, 2)
