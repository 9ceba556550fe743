"""Keep e-mail addresses, names and other guest-typed text out of the logs.

:func:`install_redaction` wraps the logging record factory, so every record from every logger (and
every handler, added before or after) is redacted when it is created: its message and arguments are
rendered and scrubbed, and its traceback text is pre-rendered and scrubbed too (exception messages from
smtplib, for instance, carry the recipient). Scrubbed are:

- anything shaped like an e-mail address → ``[email]``;
- every value registered with :func:`register_sensitive` (a guest's name, a typed identity) →
  ``[redacted]``, until :func:`forget_sensitive` (at session end).

Code that needs to refer to a guest's address in a log line uses :func:`pseudonym` (a short salted hash,
stable for this process only).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any

EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*"
)
_SALT = secrets.token_bytes(16)
_sensitive: set[str] = set()
_lock = threading.Lock()
_previous: Callable[..., logging.LogRecord] | None = None


def pseudonym(value: str) -> str:
    """A short, process-salted hash of a personal value, for log lines that must tell guests apart."""
    return "#" + hashlib.sha256(_SALT + value.strip().lower().encode()).hexdigest()[:10]


def register_sensitive(*values: str) -> None:
    """Scrub these values (names, typed ids) from every log record until forgotten."""
    with _lock:
        _sensitive.update(v for v in values if v and len(v) >= 2)


def forget_sensitive(*values: str) -> None:
    """Stop scrubbing these values (their session ended)."""
    with _lock:
        _sensitive.difference_update(values)


def redact(text: str) -> str:
    """Text with e-mail addresses and registered values replaced."""
    text = EMAIL_RE.sub("[email]", text)
    with _lock:
        values = sorted(_sensitive, key=len, reverse=True)
    for v in values:
        if v in text:
            text = text.replace(v, "[redacted]")
    return text


class RedactingFilter(logging.Filter):
    """A logging filter doing the same scrubbing (for handlers outside the record factory's reach)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the record in place; never drops it."""
        _scrub(record)
        return True


def _scrub(record: logging.LogRecord) -> None:
    if getattr(record, "_redacted", False):
        return
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        message = str(record.msg)
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._redacted = True


def install_redaction() -> None:
    """Redact every log record at creation, process-wide (idempotent)."""
    global _previous
    with _lock:
        if _previous is not None:
            return
        previous = _previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub(record)
        return record

    logging.setLogRecordFactory(factory)


def uninstall_redaction() -> None:
    """Restore the record factory found by install_redaction (tests)."""
    global _previous
    with _lock:
        if _previous is not None:
            logging.setLogRecordFactory(_previous)
            _previous = None
