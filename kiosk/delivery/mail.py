"""Opt-in e-mail of the headshot: queued on disk in the session store, sent when online, retried.

Use::

    outbox = MailOutbox(store, cfg.delivery.mail).start()      # sender thread
    outbox.queue(session.id, "guest@example.org", {"headshot.jpg": jpeg})
    ...
    outbox.stop()

A queued message is one complete RFC 5322 file (``m-<random>.eml``, kind ``mail``) written atomically
through the store, so it survives a crash, belongs to its session for retention, and is deleted the moment
the SMTP server accepts it. The sender retries transient failures (no network, server down, 4xx) with
exponential backoff (`retry_initial_s` doubling up to `retry_max_s`); a permanent refusal of the message
(5xx) drops it and marks the session's meta ``mail = "failed"``. A refusal of the kiosk itself (no
STARTTLS on a starttls relay, an untrusted certificate, a refused login, an unreadable password file)
holds the message as "needs operator" (see :mod:`kiosk.delivery.outbox`). If retention's hard cap comes
first, the message is deleted unsent and recorded. :meth:`MailOutbox.probe` tries the relay without
sending (`kiosk doctor`). Addresses never reach the logs: log lines carry :func:`kiosk.privacy.pseudonym`.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from email.message import EmailMessage, Message
from email.utils import formatdate, make_msgid

from kiosk.config_base import read_secret
from kiosk.delivery.config import MailConfig
from kiosk.delivery.outbox import Outbox, needs_operator
from kiosk.errors import InputError
from kiosk.i18n import FALLBACK, Texts
from kiosk.privacy import pseudonym
from kiosk.session.store import SessionStore, StoredFile

log = logging.getLogger(__name__)

# Deliberately plain: one @, a dotted domain, no spaces, quotes or control characters (no header injection).
ADDRESS_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_TYPES = {".jpg": ("image", "jpeg"), ".jpeg": ("image", "jpeg"), ".png": ("image", "png")}


def valid_address(address: str) -> bool:
    """Whether a typed address is acceptable (shape only; delivery is the real test)."""
    return len(address) <= 254 and bool(ADDRESS_RE.fullmatch(address)) and ".." not in address


class MailOutbox(Outbox):
    """The e-mail outbox over the session store, with a sender thread."""

    kind = "mail"

    def __init__(
        self,
        store: SessionStore,
        cfg: MailConfig | None = None,
        *,
        texts: Texts | None = None,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the outbox (the sender starts with start()).

        Args:
            store: the session store holding the queued messages.
            cfg: the `[delivery.mail]` section.
            texts: the guest-facing texts (subject and body in the guest's language when cfg leaves them unset).
            mono: monotonic seconds for the retry schedule.
        """
        self.cfg = cfg or MailConfig()
        self.texts = texts or Texts([FALLBACK])
        super().__init__(store, self.cfg.retry_initial_s, self.cfg.retry_max_s, mono=mono)

    def queue(self, session_id: str, address: str, attachments: Mapping[str, bytes], language: str = FALLBACK) -> str:
        """Queue one message to address with the attachments, its words in `language`; return its queue name.

        Raises InputError for a malformed address, a bad attachment name or an oversize attachment.
        """
        address = address.strip()
        if not valid_address(address):
            raise InputError("that e-mail address does not look right: check it and try again")
        total = sum(len(b) for b in attachments.values())
        if total > self.cfg.max_attachment_mb * 1e6:
            raise InputError(f"attachments of {total / 1e6:.1f} MB exceed delivery.mail.max_attachment_mb")
        msg = EmailMessage()
        msg["From"] = self.cfg.sender
        msg["To"] = address
        msg["Subject"] = self.cfg.subject or self.texts.t(language, "mail.subject")
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain="kiosk.invalid")
        msg.set_content(self.cfg.body or self.texts.t(language, "mail.body"))
        for name, data in attachments.items():
            ext = name[name.rfind(".") :].lower() if "." in name else ""
            if ext not in _TYPES or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
                raise InputError(f"attachment {name!r}: use a .jpg or .png file name of safe characters")
            maintype, subtype = _TYPES[ext]
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        name = f"m-{secrets.token_hex(8)}.eml"
        self.store.write_file(session_id, "mail", name, msg.as_bytes(policy=email.policy.SMTP))
        log.info("mail to %s queued for session %s", pseudonym(address), session_id)
        self.wake()
        return name

    def fix_hint(self) -> str:
        """What to check when the relay refuses the kiosk."""
        return ("check [delivery.mail] (host, port, security, username, password_file), "
                "then `kiosk doctor` and Retry sending")

    def attempt(self, f: StoredFile, data: bytes) -> str:
        """One SMTP attempt: 'sent', 'failed' (permanent), needs_operator(...) or a transient reason."""
        return SmtpRelay(self.cfg).send(email.message_from_bytes(data, policy=email.policy.SMTP))


class SmtpRelay:
    """The configured SMTP relay: TLS and login as `[delivery.mail]` says, each outcome classified."""

    def __init__(self, cfg: MailConfig) -> None:
        """Args: cfg is the `[delivery.mail]` section."""
        self.cfg = cfg

    def _password(self) -> str | None:
        if self.cfg.password_file is None:
            return None
        try:  # checked again here: the file's mode may have changed since the config was loaded
            return read_secret(self.cfg.password_file, "delivery.mail.password_file")
        except ValueError as err:
            raise InputError(str(err)) from err

    def _open(self) -> smtplib.SMTP:
        """A connection to the relay with TLS up (as configured) and logged in (when a username is set)."""
        ctx = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.cfg.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout_s, context=ctx)
        else:
            smtp = smtplib.SMTP(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout_s)
        try:
            if self.cfg.security == "starttls":
                smtp.starttls(context=ctx)
            if self.cfg.username:
                smtp.login(self.cfg.username, self._password() or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: Message | None) -> str:
        """Connect (and send message when given one): 'sent', 'failed', needs_operator(...) or a transient reason."""
        try:
            with self._open() as smtp:
                if message is None:
                    smtp.noop()
                else:
                    smtp.send_message(message)
        except InputError as err:
            return needs_operator(str(err))
        except smtplib.SMTPNotSupportedError:
            return needs_operator("the SMTP server offers no STARTTLS: use security = 'ssl' (port 465) or a relay "
                                  "that offers STARTTLS")
        except ssl.SSLCertVerificationError as err:
            return needs_operator(f"the SMTP server's TLS certificate is not trusted ({err.verify_message})")
        except smtplib.SMTPAuthenticationError as err:
            return needs_operator(f"the SMTP server refused the login ({err.smtp_code})")
        except smtplib.SMTPRecipientsRefused as err:
            codes = [c for c, _ in err.recipients.values()]
            return "failed" if codes and all(c >= 500 for c in codes) else "recipient deferred"
        except smtplib.SMTPResponseException as err:
            if 530 <= err.smtp_code <= 539:  # authentication required or refused: the config, not the message
                return needs_operator(f"the SMTP server wants a login ({err.smtp_code}): set username and "
                                      "password_file")
            return "failed" if err.smtp_code >= 500 else f"server said {err.smtp_code}"
        except (smtplib.SMTPException, OSError) as err:
            return f"offline: {type(err).__name__}"
        return "sent"

    def probe(self) -> str:
        """Connect, start TLS and log in as configured, send nothing: 'sent' means the relay takes the kiosk."""
        return self.send(None)
