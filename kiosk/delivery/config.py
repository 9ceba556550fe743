"""Config models of guest delivery (section `[delivery]`): download server, e-mail, hand-off.

Kept free of network libraries and of `kiosk.config` (which imports this module). The printing section
lives in its own module and is added to :class:`DeliveryConfig` by the printing code's owner.
"""

from __future__ import annotations

import ipaddress
import re
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from kiosk.config_base import ConfigSection, SecretFile, pattern_problem
from kiosk.delivery.printing_config import PrintingConfig
from kiosk.delivery.provenance_config import ProvenanceConfig

# An identity (badge number, employee id) names exported files: safe characters only, never a path.
IDENTITY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def is_loopback_host(host: str) -> bool:
    """Whether a host name or address is the loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class WifiConfig(ConfigSection):
    """A "join this Wi-Fi" QR code shown before the download's, for a kiosk running its own access point."""

    ssid: str | None = Field(
        default=None, min_length=1, max_length=32,
        description="Network name (SSID) of the kiosk's access point; empty: no Wi-Fi QR code.",
    )
    security: Literal["WPA", "WEP", "nopass"] = Field(
        default="WPA", description="WPA (WPA/WPA2/WPA3 personal), WEP or nopass (an open network)."
    )
    password_file: SecretFile | None = Field(
        default=None, description="File holding the Wi-Fi password (chmod 600); needed unless security = nopass."
    )
    hidden: bool = Field(default=False, description="The network does not broadcast its name.")

    @model_validator(mode="after")
    def _password(self) -> WifiConfig:
        if self.ssid is None:
            if self.password_file is not None:
                raise ValueError("password_file without ssid: set ssid (the access point's name) or remove it")
        elif (self.security == "nopass") != (self.password_file is None):
            raise ValueError("security = 'nopass' takes no password_file; WPA and WEP need one")
        return self


class DownloadConfig(ConfigSection):
    """The local download server the guest's phone reaches through the QR code (`[delivery.download]`)."""

    enabled: bool = Field(default=True, description="Offer the QR download on the delivery screen.")
    bind: list[str] = Field(
        default=["auto"],
        min_length=1,
        max_length=8,
        description="IP addresses to listen on (only these); \"auto\": the address of the interface holding the "
        "default route (else the first other interface that is up), found at start, for phones to reach.",
    )
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port (0: any free port).")
    public_url: str | None = Field(
        default=None,
        description="Base URL in the QR code, e.g. http://192.168.4.1:8080, or https://kiosk.example.org:8443 "
        "with tls_cert_file (default: http:// and the first bind address, \"auto\" resolved at start).",
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description="HTTPS: PEM certificate (chain) for public_url's host name, issued by a CA the guests' "
        "phones trust; with tls_key_file. Empty: plain HTTP (keep the Wi-Fi private and client-isolated).",
    )
    tls_key_file: SecretFile | None = Field(
        default=None, description="HTTPS: the certificate's PEM private key (chmod 600)."
    )
    link_minutes: float = Field(
        default=10.0, gt=0.0, le=1440.0, description="A download link (and its copy) expires after this, min."
    )
    max_downloads: int = Field(
        default=3, ge=1, le=1000, description="File downloads allowed per link, all variants together."
    )
    max_views: int = Field(
        default=30,
        ge=1,
        le=10000,
        description="Page and thumbnail loads allowed per link (a page load with two photos counts 3).",
    )
    link_mode: Literal["any_device", "first_device", "first_download"] = Field(
        default="any_device",
        description="Who may use a link: any_device (until it expires or is used up), first_device (only the "
        "phone that opened it first, by a cookie) or first_download (it ends after the first file download).",
    )
    rate_per_minute: int = Field(
        default=60, ge=1, le=10000, description="Requests and connections allowed per client per minute (then 429)."
    )
    first_byte_timeout_s: float = Field(
        default=2.0, ge=0.2, le=60.0, description="Cut off a client that sends nothing this long after connecting, s."
    )
    request_timeout_s: float = Field(
        default=5.0, ge=0.5, le=120.0, description="Cut off a client slower than this to send a request, s."
    )
    max_connections: int = Field(
        default=64,
        ge=2,
        le=1024,
        description="Concurrent connections; the last quarter is kept for clients that hold none yet.",
    )
    max_connections_per_client: int = Field(
        default=6, ge=1, le=256, description="Concurrent connections of one client (an IPv6 /64 counts as one)."
    )
    keep_after_session: bool = Field(
        default=True,
        description="true: a link outlives the guest's session on the kiosk (until it expires after "
        "link_minutes or is used up), so a phone that joins the Wi-Fi slowly still gets the photo; "
        "false: it dies when the session ends on the kiosk.",
    )
    wifi: WifiConfig = Field(
        default_factory=WifiConfig, description="Optional Wi-Fi join QR code, shown first on the delivery screen."
    )

    @field_validator("bind")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for a in v:
            if a == "auto":
                continue
            try:
                ipaddress.ip_address(a)
            except ValueError as err:
                raise ValueError(f"{a!r} is not an IP address or \"auto\" (bind to addresses, not names)") from err
        return v

    @field_validator("public_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("use http(s)://HOST[:PORT][/PREFIX]")
        if parts.username or parts.password:
            raise ValueError("no user name or password in the URL: use http(s)://HOST[:PORT][/PREFIX]")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _tls(self) -> DownloadConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both tls_cert_file and tls_key_file, or neither")
        if self.tls_cert_file is not None and not (self.public_url or "").startswith("https://"):
            raise ValueError(
                "with tls_cert_file, set public_url = \"https://HOST:PORT\" naming the certificate's host"
            )
        return self

    @model_validator(mode="after")
    def _wifi_needs_download(self) -> DownloadConfig:
        if self.wifi.ssid is not None and not self.enabled:
            raise ValueError("wifi.ssid is set but the download is off (enabled = false): the Wi-Fi code would "
                             "lead nowhere; enable the download or remove [delivery.download.wifi]")
        return self

    @property
    def uses_tls(self) -> bool:
        """Whether the server speaks HTTPS itself."""
        return self.tls_cert_file is not None


class MailConfig(ConfigSection):
    """Opt-in e-mail of the headshot, queued on disk and sent when online (`[delivery.mail]`)."""

    enabled: bool = Field(default=False, description="Offer e-mail delivery (the guest types an address).")
    host: str = Field(default="localhost", min_length=1, max_length=253, description="SMTP server host.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="starttls (port 587), ssl (port 465) or none (loopback relays only)."
    )
    username: str | None = Field(default=None, max_length=256, description="SMTP login, if needed.")
    password_file: SecretFile | None = Field(
        default=None, description="File holding the SMTP password (kept out of the config file; chmod 600)."
    )
    sender: str = Field(
        default="Headshot Kiosk <kiosk@localhost>", max_length=256, description="From: of the e-mails."
    )
    subject: str | None = Field(
        default=None, max_length=200,
        description="Subject line for every guest; unset: the bundled one in the guest's language (mail.subject).",
    )
    body: str | None = Field(
        default=None,
        max_length=4000,
        description="Plain-text body for every guest; unset: the bundled one in the guest's language (mail.body).",
        json_schema_extra={"multiline": True},
    )
    max_attachment_mb: float = Field(
        default=15.0, gt=0.0, le=50.0, description="Largest total attachment size, MB."
    )
    timeout_s: float = Field(default=20.0, ge=1.0, le=300.0, description="SMTP connection timeout, s.")
    retry_initial_s: float = Field(
        default=15.0, ge=0.05, le=3600.0, description="First retry after a failed send, s (then doubling)."
    )
    retry_max_s: float = Field(default=600.0, ge=0.05, le=86400.0, description="Longest retry wait, s.")

    @field_validator("sender")
    @classmethod
    def _sender(cls, v: str) -> str:
        _name, address = parseaddr(v)
        if "@" not in address:
            raise ValueError("use an address, optionally with a name: Name <kiosk@example.org>")
        return v

    @model_validator(mode="after")
    def _plain_only_loopback(self) -> MailConfig:
        if self.security == "none" and not is_loopback_host(self.host):
            raise ValueError(
                "security = 'none' sends the guests' photos (and any password) in clear: "
                "use starttls or ssl, or 'none' only to a relay on this machine (localhost)"
            )
        return self


class HandoffConfig(ConfigSection):
    """Export of the approved headshot, named by the guest's id (`[delivery.handoff]`)."""

    target: Literal["none", "folder", "sftp", "webhook"] = Field(
        default="none", description="Where approved headshots go: none, folder, sftp or webhook."
    )
    format: Literal["badge", "portrait"] = Field(
        default="portrait",
        description="The headshot exported: badge (3:4, 600×800, ID-photo head size) or portrait (4:5, "
        "1200×1500); it must be one of ui.formats (mode hr-onboarding makes ui.formats this one by default).",
    )
    identity_pattern: str = Field(
        default=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        max_length=200,
        description="Regex an identity (typed or from a badge QR) must match; always within [A-Za-z0-9._-]. "
        "No repeated groups that repeat, no repeated alternations, at most 4 variable repeats (matching time).",
    )
    folder: Path | None = Field(default=None, description="target=folder: the export folder.")
    sftp_host: str | None = Field(default=None, max_length=253, description="target=sftp: server host.")
    sftp_port: int = Field(default=22, ge=1, le=65535, description="target=sftp: server port.")
    sftp_user: str | None = Field(default=None, max_length=64, description="target=sftp: login.")
    sftp_key_file: SecretFile | None = Field(
        default=None, description="target=sftp: private key file (chmod 600)."
    )
    sftp_known_hosts: Path | None = Field(
        default=None, description="target=sftp: known_hosts file; the server's key must be in it."
    )
    sftp_dir: str = Field(default=".", max_length=512, description="target=sftp: remote folder.")
    webhook_url: str | None = Field(
        default=None, description="target=webhook: https URL that receives a POST per headshot."
    )
    webhook_token_file: SecretFile | None = Field(
        default=None, description="target=webhook: file holding a bearer token sent with each POST (chmod 600)."
    )
    timeout_s: float = Field(default=20.0, ge=1.0, le=300.0, description="Connection timeout per attempt, s.")
    retry_initial_s: float = Field(
        default=15.0, ge=0.05, le=3600.0, description="First retry after a failed export, s (then doubling)."
    )
    retry_max_s: float = Field(default=600.0, ge=0.05, le=86400.0, description="Longest retry wait, s.")

    @field_validator("identity_pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        problem = pattern_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _target_fields(self) -> HandoffConfig:
        need = {
            "folder": ("folder",),
            "sftp": ("sftp_host", "sftp_user", "sftp_key_file", "sftp_known_hosts"),
            "webhook": ("webhook_url",),
        }.get(self.target, ())
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"target = '{self.target}' needs {', '.join(missing)}")
        if self.target == "webhook" and self.webhook_url:
            parts = urlsplit(self.webhook_url)
            if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
                raise ValueError("webhook_url must be https (plain http only to a loopback address)")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("webhook_url must be an https:// URL")
        return self


class DeliveryConfig(ConfigSection):
    """How guests receive their headshots (section `[delivery]`)."""

    download: DownloadConfig = Field(default_factory=DownloadConfig, description="QR download to the phone.")
    mail: MailConfig = Field(default_factory=MailConfig, description="Opt-in e-mail, queued and retried.")
    handoff: HandoffConfig = Field(default_factory=HandoffConfig, description="Export to HR/event systems.")
    printing: PrintingConfig = Field(default_factory=PrintingConfig, description="Printing through CUPS.")
    provenance: ProvenanceConfig = Field(
        default_factory=ProvenanceConfig, description="AI disclosure: XMP source type, optional C2PA signing."
    )
