"""Whether a guest's phone can reach the download link: the address the QR code names, found at start.

`bind = ["auto"]` (the default) listens on the address phones use: the one of the interface holding the
default route, else the first other interface that is up with an IPv4 address (a kiosk running its own
Wi-Fi access point has no default route), else loopback, which `phone_reach` then reports as a warning to
`kiosk config check`, `kiosk doctor` and the operator menu. An explicit address or `public_url` wins.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from kiosk.status import Level, PartStatus

AUTO = "auto"
LOOPBACK = "127.0.0.1"
# Never sent to: a UDP connect() only asks the kernel which source address its route would use.
_PROBE = ("203.0.113.1", 9)  # TEST-NET-3 (RFC 5737): off every local network, so the default route answers
_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address
FIX_LOOPBACK = (
    "connect the kiosk to the event's network or start its own access point (docs/operator/access-point.md), "
    'then restart; or set delivery.download.bind = ["<the Wi-Fi/LAN address>"]'
)


def default_route_address() -> str | None:
    """The IPv4 address of the interface holding the default route, or None when there is none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(_PROBE)
        except OSError:
            return None
        addr = str(s.getsockname()[0])
    return None if ipaddress.ip_address(addr).is_loopback or addr == "0.0.0.0" else addr  # reason: compared, not bound


def interface_addresses() -> dict[str, str]:
    """Interface name → IPv4 address, for interfaces that have one (loopback left out)."""
    out: dict[str, str] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _index, name in socket.if_nameindex():
            with contextlib.suppress(OSError):  # no IPv4 address on this interface
                raw = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
                addr = socket.inet_ntoa(raw[20:24])
                if not ipaddress.ip_address(addr).is_loopback:
                    out[name] = addr
    return out


def auto_address() -> str:
    """The address phones should use: the default route's, else another interface's, else loopback."""
    found = default_route_address()
    if found:
        return found
    others = interface_addresses()
    return next(iter(others.values()), LOOPBACK)


def resolve_bind(bind: Sequence[str]) -> list[str]:
    """The configured addresses with "auto" replaced by auto_address() (duplicates dropped, order kept)."""
    return list(dict.fromkeys(auto_address() if a == AUTO else a for a in bind))


def _socket_accepts(addr: str, kind: socket.SocketKind, connect: bool) -> bool:
    """Whether a socket of `kind` may connect to (else bind to) addr; nothing is sent."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, kind) as s:
        try:
            if connect:
                s.connect((addr, 9))
            else:
                s.bind((addr, 0))
        except OSError:
            return False
    return True


def has_route(addr: str) -> bool:
    """Whether this machine has a route towards addr (nothing is sent)."""
    return _socket_accepts(addr, socket.SOCK_DGRAM, connect=True)


def is_local_address(addr: str) -> bool:
    """Whether this machine can listen on addr (it is one of its addresses)."""
    return _socket_accepts(addr, socket.SOCK_STREAM, connect=False)


def phone_reach(cfg: Any, base_url: str | None = None) -> PartStatus:
    """Whether a phone can open the links of this `[delivery.download]` config (what the QR code names).

    WARN for a loopback link (only this machine reaches it) and for a machine with no network at all;
    FAIL for a bind address that is not this machine's; WARN for a public_url address this machine has no
    route to (a proxy or port forward in front of the kiosk is fine when routed). A host name in public_url
    is not resolved (no DNS wait at start): it is the operator's to point at the kiosk.

    Args:
        cfg: the DownloadConfig.
        base_url: the running server's base URL (default: what the config would give).
    """
    if not cfg.enabled:
        return PartStatus("phone download off", Level.OFF)
    if base_url is None:
        base_url = cfg.public_url or f"http://{resolve_bind(cfg.bind)[0]}"
    host = (urlsplit(base_url).hostname or "").strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost":
            return PartStatus("the QR code names localhost: phones cannot reach a loopback address",
                              Level.WARN, FIX_LOOPBACK)
        return PartStatus(f"the QR code names {host} (a name: make sure it points to this kiosk on the guests' "
                          "Wi-Fi)")
    if ip.is_loopback:
        why = "no network interface is up" if not interface_addresses() else "the QR code names a loopback address"
        return PartStatus(f"{why}: phones cannot reach {host}", Level.WARN, FIX_LOOPBACK)
    if is_local_address(host):
        return PartStatus(f"phones reach {host} on this machine's network")
    if not cfg.public_url:
        return PartStatus(f"{host} is not an address of this machine", Level.FAIL,
                          'set delivery.download.bind to one of this machine\'s addresses, or "auto"')
    if not has_route(host):
        return PartStatus(f"public_url names {host}, but this machine has no route to it", Level.WARN,
                          "connect the kiosk to the network that serves public_url, or correct public_url")
    return PartStatus(f"phones reach {host} (public_url) through this machine's network")


def wifi_uri(wifi: Any) -> str | None:
    """The `WIFI:` URI of a `[delivery.download.wifi]` section (a phone's camera offers to join), or None.

    Raises ValueError naming the key when the password file is unsafe or unreadable.
    """
    if wifi.ssid is None:
        return None
    import segno.helpers

    from kiosk.config_base import read_secret

    password = None
    if wifi.password_file is not None:
        password = read_secret(wifi.password_file, "delivery.download.wifi.password_file")
    security = None if wifi.security == "nopass" else wifi.security
    return str(segno.helpers.make_wifi_data(ssid=wifi.ssid, password=password, security=security,
                                            hidden=wifi.hidden))
