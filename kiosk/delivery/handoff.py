"""Hand-off for HR onboarding and events: the approved headshot, named by the guest's id, exported.

An optional identity step names the session: the guest types an id, or shows a badge/letter with a
QR code (or a barcode) to the camera (:func:`identity_from_frame`). :func:`validate_identity` accepts
only safe characters (it becomes a file name). The approved headshot is queued in the session store
(kind ``handoff``, file ``<identity>.jpg``: atomic, survives a crash, bounded by retention) and a sender
thread exports it, retrying while offline, to one configured target:

- ``folder``: written atomically into a local or mounted folder;
- ``sftp``: uploaded with paramiko (key login, the server's key must be in `sftp_known_hosts`), to a
  temporary name then renamed, so the far side never sees half a file;
- ``webhook``: one HTTPS POST per headshot (``image/jpeg`` body, headers ``X-Kiosk-Identity``,
  ``Content-Disposition`` and ``Idempotency-Key``, optional bearer token); plain http only to loopback.
  The idempotency key is derived from the queued item (session, name, content), so every retry of one
  headshot, across restarts too, carries the same key and the receiver can drop a duplicate after a
  timeout that hid a success.

A refusal of the kiosk itself (a webhook's 401/403, an untrusted TLS certificate, an SFTP server whose key
is unknown or changed, a refused SFTP login, an export folder the kiosk may not write) is held as "needs
operator" (see :mod:`kiosk.delivery.outbox`). :meth:`HandoffOutbox.probe` tries the target without exporting
anything (`kiosk doctor`). Log lines name sessions, never identities.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import re
import secrets
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np

from kiosk.config_base import read_secret
from kiosk.delivery.config import IDENTITY_RE, HandoffConfig
from kiosk.delivery.outbox import Outbox, needs_operator
from kiosk.errors import InputError
from kiosk.session.store import SessionStore, StoredFile
from models.store import atomic_write_bytes

log = logging.getLogger(__name__)


def validate_identity(text: str, cfg: HandoffConfig | None = None) -> str:
    """The identity, stripped, if it is safe and matches the configured pattern; else InputError."""
    cfg = cfg or HandoffConfig()
    ident = text.strip()
    if not IDENTITY_RE.fullmatch(ident) or ".." in ident:
        raise InputError("that id has characters we cannot use: letters, digits, '.', '_' and '-' only")
    if not re.fullmatch(cfg.identity_pattern, ident):
        raise InputError("that id does not look like the ones this event uses: check it and try again")
    return ident


def read_qr(bgr: np.ndarray) -> str | None:
    """The text of a QR code in a BGR image, or None.

    OpenCV's classic detector misses about one code in 150 that phones read at once (it depends on the
    module pattern, so on the URL's random token); its ArUco-based detector, which finds the finder
    patterns another way, reads those. The classic one goes first: it is faster and reads small codes
    in camera frames better.
    """
    import cv2

    for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
        try:
            text, _, _ = detector.detectAndDecode(bgr)
        except cv2.error:
            continue
        if text:
            return str(text)
    return None


def identity_from_frame(bgr: np.ndarray) -> str | None:
    """Read a QR code (or, where OpenCV has it, a 1-D barcode) from a camera frame; None when none is seen.

    The text is returned as decoded; pass it through :func:`validate_identity` before use.
    """
    import cv2

    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise InputError("identity_from_frame needs a BGR uint8 image")
    text = read_qr(bgr)
    if text:
        return text
    if hasattr(cv2, "barcode"):
        try:
            ok, decoded, _, _ = _barcode(cv2, bgr)
        except cv2.error:
            return None
        if ok:
            found = [d for d in decoded if d]
            if found:
                return str(found[0])
    return None


def _barcode(cv2: Any, bgr: np.ndarray) -> tuple[bool, list[str], Any, Any]:
    res = cv2.barcode.BarcodeDetector().detectAndDecodeWithType(bgr)
    if len(res) == 4:  # OpenCV ≥ 4.8: (ok, infos, types, points)
        ok, infos, types, points = res
        return bool(ok), list(infos or []), types, points
    infos, types, points = res[0], res[1], res[2]
    return bool(infos), list(infos or []), types, points


class HandoffOutbox(Outbox):
    """Queue approved headshots by identity and export them to the configured target."""

    kind = "handoff"

    def __init__(
        self, store: SessionStore, cfg: HandoffConfig, *, mono: Callable[[], float] = time.monotonic
    ) -> None:
        """Prepare the outbox (the sender starts with start()).

        Args:
            store: the session store holding the queue.
            cfg: the `[delivery.handoff]` section (target must not be 'none' to queue).
            mono: monotonic seconds for the retry schedule.
        """
        self.cfg = cfg
        super().__init__(store, cfg.retry_initial_s, cfg.retry_max_s, mono=mono)

    def queue(self, session_id: str, identity: str, jpeg: bytes) -> str:
        """Queue the approved headshot of a session under its identity; return the queued file name."""
        if self.cfg.target == "none":
            raise InputError("hand-off is not configured: set delivery.handoff.target")
        ident = validate_identity(identity, self.cfg)
        if not jpeg.startswith(b"\xff\xd8"):
            raise InputError("the hand-off export takes a JPEG image")
        name = f"{ident}.jpg"
        self.store.write_file(session_id, "handoff", name, jpeg)
        log.info("hand-off queued for session %s", session_id)
        self.wake()
        return name

    def fix_hint(self) -> str:
        """What to check when the target refuses the kiosk."""
        return (f"check [delivery.handoff] for target {self.cfg.target} (credentials, host key), "
                "then `kiosk doctor` and Retry sending")

    def attempt(self, f: StoredFile, data: bytes) -> str:
        """Export one headshot to the target."""
        return HandoffTarget(self.cfg).send(f.name, data, idempotency_key(f))


class HandoffTarget:
    """The configured export target (folder, SFTP or webhook), each outcome classified."""

    def __init__(self, cfg: HandoffConfig) -> None:
        """Args: cfg is the `[delivery.handoff]` section."""
        self.cfg = cfg

    def send(self, name: str, data: bytes, key: str) -> str:
        """Export data as name (key: the webhook's idempotency key)."""
        if self.cfg.target == "folder":
            return self._to_folder(name, data)
        if self.cfg.target == "sftp":
            return self._to_sftp(name, data)
        if self.cfg.target == "webhook":
            return self._to_webhook(name, data, key)
        return "hand-off target is 'none'"

    def probe(self) -> str:
        """Reach the target as an export would (TLS, host key, credentials) without exporting: 'sent' is ok."""
        if self.cfg.target == "folder":
            return self._to_folder(f".doctor-{secrets.token_hex(4)}", b"", keep=False)
        if self.cfg.target == "sftp":
            return self._to_sftp(None, b"")
        if self.cfg.target == "webhook":
            return self._to_webhook(None, b"", "")
        return "hand-off target is 'none'"

    def _to_folder(self, name: str, data: bytes, keep: bool = True) -> str:
        folder = self.cfg.folder
        assert folder is not None  # reason: the config validator requires it for target=folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = atomic_write_bytes(folder / name, data, mode=0o640)  # readable by the HR share's group
            if not keep:
                path.unlink()
        except OSError as err:
            if err.errno == errno.ENOSPC:
                return "export folder full"
            if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                return needs_operator(f"the kiosk may not write to the export folder {folder} ({err.strerror})")
            return f"export folder unavailable: {err.strerror}"
        return "sent"

    def _to_sftp(self, name: str | None, data: bytes) -> str:
        """Upload data as name (None: connect, log in and look at the folder only)."""
        import io

        import paramiko

        cfg = self.cfg
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(cfg.sftp_known_hosts))
        except OSError as err:
            return needs_operator(f"cannot read sftp_known_hosts: {err.strerror}")
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                str(cfg.sftp_host),
                port=cfg.sftp_port,
                username=cfg.sftp_user,
                key_filename=str(cfg.sftp_key_file),
                timeout=cfg.timeout_s,
                banner_timeout=cfg.timeout_s,
                auth_timeout=cfg.timeout_s,
                allow_agent=False,
                look_for_keys=False,
            )
            sftp = client.open_sftp()
            channel = sftp.get_channel()
            assert channel is not None  # reason: open_sftp returns a client over an open channel
            channel.settimeout(cfg.timeout_s)
            if name is None:
                sftp.stat(cfg.sftp_dir)
                sftp.close()
                return "sent"
            tmp = f"{cfg.sftp_dir}/.tmp-{secrets.token_hex(4)}-{name}"
            final = f"{cfg.sftp_dir}/{name}"
            sftp.putfo(io.BytesIO(data), tmp, file_size=len(data), confirm=True)
            try:
                sftp.posix_rename(tmp, final)
            except OSError:
                # servers without the posix-rename extension: rename fails if the target exists
                with contextlib.suppress(OSError):
                    sftp.remove(final)
                sftp.rename(tmp, final)
            sftp.close()
        except paramiko.BadHostKeyException:
            return needs_operator("the SFTP server's key changed: it does not match sftp_known_hosts")
        except paramiko.AuthenticationException:
            return needs_operator("the SFTP server refused the kiosk's key (sftp_user, sftp_key_file)")
        except paramiko.SSHException as err:
            if "known_hosts" in str(err):  # RejectPolicy: the server's key is not in sftp_known_hosts at all
                return needs_operator("the SFTP server's key is unknown: add it to sftp_known_hosts")
            return f"sftp: {type(err).__name__}"
        except FileNotFoundError:
            return needs_operator(f"the SFTP server has no folder {cfg.sftp_dir!r} (sftp_dir)")
        except PermissionError:
            return needs_operator(f"the SFTP server does not let the kiosk write to {cfg.sftp_dir!r} (sftp_dir)")
        except OSError as err:
            return f"sftp offline: {type(err).__name__}"
        finally:
            client.close()
        return "sent"

    def _to_webhook(self, name: str | None, data: bytes, key: str) -> str:
        """POST data as name with the idempotency key (None: a HEAD with the credentials, to probe)."""
        cfg = self.cfg
        assert cfg.webhook_url is not None  # reason: the config validator requires it for target=webhook
        headers = {"User-Agent": "headshot-kiosk"}
        if name is not None:
            headers.update({
                "Content-Type": "image/jpeg",
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Kiosk-Identity": name[: -len(".jpg")],
                "Idempotency-Key": key,
            })
        if cfg.webhook_token_file is not None:
            try:
                headers["Authorization"] = "Bearer " + read_secret(cfg.webhook_token_file,
                                                                   "delivery.handoff.webhook_token_file")
            except ValueError as err:
                return needs_operator(str(err))
        method = "POST" if name is not None else "HEAD"
        req = urllib.request.Request(cfg.webhook_url, data=data if name else None, headers=headers, method=method)
        # no redirects: a 3xx is an error, so the photo never follows a redirect to somewhere else
        opener = urllib.request.build_opener(
            _NoRedirect(), urllib.request.HTTPSHandler(context=ssl.create_default_context())
        )
        try:
            with opener.open(req, timeout=cfg.timeout_s) as resp:
                resp.read(1024)
                code = resp.status
        except urllib.error.HTTPError as err:
            code = err.code
        except urllib.error.URLError as err:
            if isinstance(err.reason, ssl.SSLCertVerificationError):
                return needs_operator(f"the webhook's TLS certificate is not trusted ({err.reason.verify_message})")
            return f"webhook offline: {type(err.reason).__name__}"
        except OSError as err:
            return f"webhook offline: {type(err).__name__}"
        if code in (401, 403):
            return needs_operator(f"the webhook refused the kiosk's credentials (HTTP {code}): check "
                                  "webhook_token_file")
        if name is None:  # a probe: any other answer means TLS and the credentials were taken
            return "sent"
        if 200 <= code < 300:
            return "sent"
        if 400 <= code < 500 and code not in (408, 425, 429):
            return "failed"
        return f"webhook answered {code}"


def idempotency_key(f: StoredFile) -> str:
    """The same key for every attempt at one queued headshot (its session, name and content), no identity."""
    return hashlib.sha256(f"{f.session_id}/{f.name}/{f.sha256}".encode()).hexdigest()[:32]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
