"""Phones reach the photo: the address the QR code names, the Wi-Fi join code, the page in the guest's language.

The server is the kiosk's own, fetched over real HTTP; addresses are this machine's real interfaces.
"""

from __future__ import annotations

import http.client
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from kiosk.app.operator import hash_pin
from kiosk.cli import main
from kiosk.delivery.config import DownloadConfig, WifiConfig
from kiosk.delivery.download import DownloadServer
from kiosk.delivery.phone_page import accepted
from kiosk.delivery.reach import (
    LOOPBACK,
    auto_address,
    default_route_address,
    interface_addresses,
    phone_reach,
    resolve_bind,
    wifi_uri,
)
from kiosk.session.store import SessionStore
from kiosk.status import Level

LANGS = ["en", "es", "fr", "de", "pt", "zh"]


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 400), (90, 120, 150)).save(out, "JPEG")
    return out.getvalue()


def get(url_or_port: str | int, path: str = "", headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    if isinstance(url_or_port, str):
        from urllib.parse import urlsplit

        parts = urlsplit(url_or_port)
        host, port, path = parts.hostname, parts.port, parts.path
    else:
        host, port = "127.0.0.1", url_or_port
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def test_auto_names_the_default_routes_interface_and_an_explicit_address_wins() -> None:
    route = default_route_address()
    others = interface_addresses()
    want = route or next(iter(others.values()), LOOPBACK)
    assert auto_address() == want
    assert resolve_bind(["auto"]) == [want]
    assert resolve_bind(["127.0.0.1"]) == ["127.0.0.1"]
    assert resolve_bind(["auto", want]) == [want]  # no address twice
    if route is not None:
        assert route in others.values(), "the default route's source address belongs to an interface"


def test_reachability_in_words() -> None:
    loop = phone_reach(DownloadConfig(bind=["127.0.0.1"]))
    assert loop.level is Level.WARN and "phones cannot reach 127.0.0.1" in loop and "access-point" in (loop.fix or "")
    name = phone_reach(DownloadConfig(public_url="http://localhost:8080"))
    assert name.level is Level.WARN
    foreign = phone_reach(DownloadConfig(bind=["192.0.2.123"]))
    assert foreign.level is Level.FAIL and "not an address of this machine" in foreign
    if auto_address() != LOOPBACK:
        ok = phone_reach(DownloadConfig())
        assert ok.level is Level.OK and auto_address() in ok
    assert phone_reach(DownloadConfig(enabled=False)).level is Level.OFF


@pytest.mark.parametrize(("header", "want"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("en-US;q=0.5, de-DE", "de"),
    ("fr-CA;q=0.2, xx, pt-BR;q=0.7", "pt"),
    ("ja, ko", None),
    ("", None),
    ("zh;q=0, es", "es"),
    (";;;, q=1", None),
])
def test_accept_language(header: str, want: str | None) -> None:
    assert accepted(header, LANGS) == want


def test_chinese_on_the_phone_page_over_http(tmp_path: Path) -> None:
    from kiosk.i18n import Texts

    texts = Texts(LANGS)
    store = SessionStore(tmp_path)
    with DownloadServer(store, DownloadConfig(bind=["127.0.0.1"], port=0)) as server:
        # The guest chose Chinese at the kiosk: the link carries it, whatever the phone prefers.
        _, url = server.publish(store.create().id, {"portrait.jpg": jpeg()}, lang="zh")
        status, page, headers = get(url, headers={"Accept-Language": "de-DE,de;q=0.9"})
        text = page.decode()
        assert status == 200 and '<html lang="zh">' in text and headers["content-language"] == "zh"
        for key in ("phone.title", "phone.download"):
            assert texts.t("zh", key) in text
        assert "分钟" in text  # the terms line, formatted in Chinese
        # A link made without a language (`kiosk share`): the phone's own language.
        _, url2 = server.publish(store.create().id, {"p.jpg": jpeg()})
        assert '<html lang="es">' in get(url2, headers={"Accept-Language": "es-MX,es;q=0.9"})[1].decode()
        assert '<html lang="en">' in get(url2)[1].decode()
        # The error replies speak too: an unknown link, to a Chinese phone.
        status, body, _ = get(server.port, "/d/" + "A" * 32, {"Accept-Language": "zh-CN"})
        assert status == 404 and body.decode().strip() == texts.t("zh", "phone.invalid")


def test_every_phone_text_exists_in_every_language() -> None:
    import json

    from kiosk.i18n import BUNDLED

    en = json.loads((BUNDLED / "en.json").read_text(encoding="utf-8"))
    keys = [k for k in en if k.startswith("phone.")]
    assert len(keys) == 9
    for lang in LANGS[1:]:
        d = json.loads((BUNDLED / f"{lang}.json").read_text(encoding="utf-8"))
        for k in keys:
            assert d.get(k) and d[k] != en[k], f"{lang}.json: {k} is missing or English"


def test_wifi_join_code(tmp_path: Path) -> None:
    secret = tmp_path / "wifi.txt"
    secret.write_text("pa;ss:w0rd\n")
    os.chmod(secret, 0o600)
    uri = wifi_uri(WifiConfig(ssid="Headshot Kiosk", password_file=secret))
    assert uri == r"WIFI:T:WPA;S:Headshot Kiosk;P:pa\;ss\:w0rd;;"
    assert wifi_uri(WifiConfig(ssid="Open", security="nopass")) == "WIFI:S:Open;;"
    assert wifi_uri(WifiConfig()) is None
    os.chmod(secret, 0o644)
    with pytest.raises(ValueError, match="password_file"):
        WifiConfig(ssid="x", password_file=secret)  # a password every user may read is refused
    with pytest.raises(ValueError, match="nopass"):
        WifiConfig(ssid="x", security="WPA")
    with pytest.raises(ValueError, match="download is off"):
        DownloadConfig(enabled=False, wifi=WifiConfig(ssid="x", security="nopass"))


def test_the_server_offers_the_wifi_code(tmp_path: Path) -> None:
    cfg = DownloadConfig(bind=["127.0.0.1"], port=0, wifi=WifiConfig(ssid="Kiosk", security="nopass"))
    with DownloadServer(SessionStore(tmp_path), cfg) as server:
        assert server.wifi == "WIFI:S:Kiosk;;"


def test_config_check_warns_when_phones_cannot_reach_the_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "kiosk.toml"
    pin = f'pin_hash = "{hash_pin("482916")}"'
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[ui]\n{pin}\n[delivery.download]\nbind = ["127.0.0.1"]\n')
    assert main(["config", "check", str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning: delivery.download:" in err and "phones cannot reach 127.0.0.1" in err and "fix:" in err
    if auto_address() != LOOPBACK:
        path.write_text(f'data_dir = "{tmp_path / "data"}"\n[ui]\n{pin}\n')
        assert main(["config", "check", str(path)]) == 0
        assert "delivery.download" not in capsys.readouterr().err
