"""Hand-off export: identity and badge QR, folder, a real in-process SFTP server, a local webhook."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno
from PIL import Image

from kiosk.commands.doctor import check_handoff
from kiosk.config import KioskConfig
from kiosk.delivery.config import DeliveryConfig, HandoffConfig
from kiosk.delivery.handoff import HandoffOutbox, identity_from_frame, validate_identity
from kiosk.errors import InputError
from kiosk.session.store import SessionStore, Step
from kiosk.status import Level

paramiko = pytest.importorskip("paramiko", reason="paramiko is needed for the SFTP hand-off")


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((240, 320), 50).convert("RGB").save(out, "JPEG")
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


# identity -----------------------------------------------------------------------------------------------
def test_validate_identity() -> None:
    assert validate_identity("  E-10442 ") == "E-10442"
    for bad in ["", "../etc/passwd", "a/b", "a b", ".hidden", "x" * 65, "id;rm -rf", "ä", "a..b"]:
        with pytest.raises(InputError):
            validate_identity(bad)
    strict = HandoffConfig(identity_pattern=r"^E-\d{5}$")
    assert validate_identity("E-10442", strict) == "E-10442"
    with pytest.raises(InputError):
        validate_identity("X-10442", strict)


def test_identity_from_a_badge_in_a_camera_frame() -> None:
    out = io.BytesIO()
    segno.make("E-10442", error="m", micro=False).save(out, kind="png", scale=6, border=4)
    qr = cv2.imdecode(np.frombuffer(out.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame += np.random.default_rng(0).integers(0, 30, frame.shape, dtype=np.uint8)
    # the badge held a little tilted in the lower part of the frame
    h, w = qr.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[700, 380], [700 + w, 395], [690 + w, 395 + h], [705, 380 + h]])
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(qr, m, (1280, 720), borderValue=(0, 0, 0))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (1280, 720)) > 0
    frame[mask] = warped[mask]
    assert identity_from_frame(frame) == "E-10442"
    assert identity_from_frame(np.full((480, 640, 3), 128, np.uint8)) is None
    with pytest.raises(InputError):
        identity_from_frame(np.zeros((10, 10), np.uint8))


# folder -------------------------------------------------------------------------------------------------
def test_folder_export(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "data")
    cfg = HandoffConfig(target="folder", folder=tmp_path / "hr", retry_initial_s=0.05)
    out = HandoffOutbox(store, cfg)
    s = store.create()
    photo = jpeg()
    out.queue(s.id, "E-10442", photo)
    store.advance(s.id, Step.DELIVERED)
    assert out.send_due() == 1
    assert (tmp_path / "hr" / "E-10442.jpg").read_bytes() == photo
    assert os.listdir(tmp_path / "hr") == ["E-10442.jpg"]
    assert out.pending() == []
    assert store.sessions() == []  # delivered and exported: deleted
    with pytest.raises(InputError):
        out.queue(store.create().id, "../x", photo)
    with pytest.raises(InputError):
        out.queue(store.create().id, "E-1", b"not a jpeg")


def test_handoff_needs_a_target(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    with pytest.raises(InputError, match="not configured"):
        HandoffOutbox(store, HandoffConfig()).queue(store.create().id, "E-1", jpeg())


# SFTP ---------------------------------------------------------------------------------------------------
class _Handle(paramiko.SFTPHandle):
    def stat(self):
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))


class _SFTP(paramiko.SFTPServerInterface):
    def __init__(self, server, *args, root: Path, **kwargs) -> None:
        super().__init__(server, *args, **kwargs)
        self.root = root

    def _real(self, path: str) -> str:
        p = (self.root / path.lstrip("/")).resolve()
        if self.root.resolve() not in (p, *p.parents):
            raise PermissionError(path)
        return str(p)

    def open(self, path, flags, attr):
        try:
            fd = os.open(self._real(path), flags, 0o644)
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        mode = "wb" if flags & os.O_WRONLY else ("r+b" if flags & os.O_RDWR else "rb")
        h = _Handle(flags)
        h.filename = path
        h.readfile = h.writefile = os.fdopen(fd, mode)
        return h

    def stat(self, path):
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._real(path)))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    lstat = stat

    def remove(self, path):
        try:
            os.remove(self._real(path))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        return paramiko.SFTP_OK

    def rename(self, old, new):
        if os.path.exists(self._real(new)):
            return paramiko.SFTP_FAILURE
        os.rename(self._real(old), self._real(new))
        return paramiko.SFTP_OK

    def posix_rename(self, old, new):
        os.replace(self._real(old), self._real(new))
        return paramiko.SFTP_OK


class _Auth(paramiko.ServerInterface):
    def __init__(self, allowed) -> None:
        self.allowed = allowed

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        ok = username == "kiosk" and key.get_base64() == self.allowed.get_base64()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        return (
            paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        )


class SFTPServer:
    """paramiko serving SFTP over a loopback socket, in this process."""

    def __init__(self, root: Path, port: int, host_key, client_key) -> None:
        self.root, self.host_key, self.client_key = root, host_key, client_key
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.transports: list = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = paramiko.Transport(conn)
            t.add_server_key(self.host_key)
            t.set_subsystem_handler("sftp", paramiko.SFTPServer, _SFTP, root=self.root)
            self.transports.append(t)
            try:
                t.start_server(server=_Auth(self.client_key))
            except (EOFError, OSError, paramiko.SSHException):  # OSError: a reset (ECONNRESET) mid-handshake
                t.close()  # a client that hung up mid-handshake (e.g. refusing our host key): serve the next

    def close(self) -> None:
        self.sock.close()
        for t in self.transports:
            t.close()


@pytest.fixture(scope="module")
def keys():
    return paramiko.RSAKey.generate(2048), paramiko.RSAKey.generate(2048), paramiko.RSAKey.generate(2048)


def _sftp_cfg(tmp_path: Path, port: int, host_key, client_key) -> HandoffConfig:
    key_file = tmp_path / "id_rsa"
    client_key.write_private_key_file(str(key_file))
    known = paramiko.HostKeys()
    known.add(f"[127.0.0.1]:{port}", host_key.get_name(), host_key)
    known.save(str(tmp_path / "known_hosts"))
    return HandoffConfig(
        target="sftp",
        sftp_host="127.0.0.1",
        sftp_port=port,
        sftp_user="kiosk",
        sftp_key_file=key_file,
        sftp_known_hosts=tmp_path / "known_hosts",
        sftp_dir="incoming",
        retry_initial_s=0.05,
        timeout_s=5,
    )


def test_sftp_export_queued_while_offline(tmp_path: Path, keys) -> None:
    host_key, client_key, _ = keys
    port = free_port()
    cfg = _sftp_cfg(tmp_path, port, host_key, client_key)
    store = SessionStore(tmp_path / "data")
    out = HandoffOutbox(store, cfg)
    s = store.create()
    photo = jpeg()
    out.queue(s.id, "E-10442", photo)
    assert out.send_due() == 0  # nothing listening: queued
    assert len(out.pending()) == 1
    remote = tmp_path / "remote"
    (remote / "incoming").mkdir(parents=True)
    server = SFTPServer(remote, port, host_key, client_key)
    try:
        out.start()
        assert wait_for(lambda: not out.pending()), "never exported"
    finally:
        out.stop()
        server.close()
    assert (remote / "incoming" / "E-10442.jpg").read_bytes() == photo
    assert os.listdir(remote / "incoming") == ["E-10442.jpg"]
    assert store.get(s.id).meta["handoff"] == "sent"


def test_sftp_refuses_an_unknown_server_key(tmp_path: Path, keys) -> None:
    host_key, client_key, impostor = keys
    port = free_port()
    cfg = _sftp_cfg(tmp_path, port, host_key, client_key)
    remote = tmp_path / "remote"
    (remote / "incoming").mkdir(parents=True)
    server = SFTPServer(remote, port, impostor, client_key)
    store = SessionStore(tmp_path / "data")
    out = HandoffOutbox(store, cfg)
    try:
        s = store.create()
        out.queue(s.id, "E-1", jpeg())
        assert out.send_due() == 0
        doctor = check_handoff(KioskConfig(data_dir=tmp_path / "data", delivery=DeliveryConfig(handoff=cfg)))
    finally:
        server.close()
    assert len(out.pending()) == 1, "held for the operator, not dropped"
    assert os.listdir(remote / "incoming") == []
    status = out.status()
    assert status.level is Level.FAIL and "1 need operator" in status and "key changed" in status, status
    assert store.get(s.id).meta["handoff"] == "needs operator"
    assert doctor.level == "FAIL" and "key changed" in doctor.detail and doctor.fix


# webhook ------------------------------------------------------------------------------------------------
class Hook:
    def __init__(self, port: int) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        hook = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), H)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhook_export(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "token").write_text("s3cret\n")
    (tmp_path / "token").chmod(0o600)  # a secret file every user can read is refused by the config
    cfg = HandoffConfig(
        target="webhook",
        webhook_url=f"http://127.0.0.1:{port}/hr/photos",
        webhook_token_file=tmp_path / "token",
        retry_initial_s=0.05,
        timeout_s=5,
    )
    store = SessionStore(tmp_path / "data")
    out = HandoffOutbox(store, cfg)
    s = store.create()
    photo = jpeg()
    out.queue(s.id, "E-10442", photo)
    assert out.send_due() == 0  # offline
    hook = Hook(port)
    try:
        hook.status = 503
        assert wait_for(lambda: out.send_due() == 0 and len(hook.received) >= 1)
        assert len(out.pending()) == 1  # 503: retried later
        hook.status = 201
        assert wait_for(lambda: out.send_due() == 1)
        headers, body = hook.received[-1]
        assert body == photo
        assert headers["content-type"] == "image/jpeg"
        assert headers["x-kiosk-identity"] == "E-10442"
        assert headers["authorization"] == "Bearer s3cret"
        # a 400 is permanent: dropped, marked failed
        s2 = store.create()
        hook.status = 400
        out.queue(s2.id, "E-2", photo)
        assert out.send_due() == 0
        assert out.pending() == [] and store.get(s2.id).meta["handoff"] == "failed"
    finally:
        hook.close()


def test_webhook_must_be_https_off_loopback() -> None:
    from kiosk.config import parse_config
    from kiosk.errors import ConfigError

    with pytest.raises(ConfigError, match="https"):
        parse_config(
            {"delivery": {"handoff": {"target": "webhook", "webhook_url": "http://hr.example.org/x"}}}
        )
    parse_config({"delivery": {"handoff": {"target": "webhook", "webhook_url": "https://hr.example.org/x"}}})
