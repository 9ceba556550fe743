"""What the guest's phone reads: the download page and the link's error replies, in the guest's language.

The language is the one the guest chose at the kiosk (carried by the link), else the phone's own
(`Accept-Language`), else English. Texts come from kiosk/i18n (`phone.*` keys), so an operator's
`ui.i18n_dir` overrides them like every other guest text.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Sequence

from kiosk.i18n import BUNDLED, FALLBACK, Texts

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;padding:16px;background:#f4f4f4;color:#222}"
    "h1{font-size:1.4em;margin:0 0 4px}p{margin:4px 0 16px;color:#555}"
    ".v{background:#fff;border-radius:12px;padding:12px;margin:0 0 16px;box-shadow:0 1px 3px #0002}"
    ".v img{width:100%;height:auto;border-radius:8px;display:block}"
    ".b{display:block;text-align:center;margin-top:10px;padding:14px;border-radius:8px;background:#1F4E79;"
    "color:#fff;text-decoration:none;font-size:1.1em}"
)
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
# One Accept-Language entry: a language range and an optional quality (RFC 9110 §12.5.4).
_RANGE_RE = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*$")


def bundled_languages() -> list[str]:
    """Every language shipped in kiosk/i18n (English first)."""
    codes = sorted(p.stem for p in BUNDLED.glob("*.json") if len(p.stem) == 2)
    return [FALLBACK, *[c for c in codes if c != FALLBACK]]


def accepted(header: str, offered: Sequence[str]) -> str | None:
    """The best of `offered` for an Accept-Language header (primary subtags, by quality), or None."""
    best: tuple[float, int, str] | None = None
    for i, part in enumerate(header.split(",")[:32]):  # a phone sends a handful; a flood is cut short
        m = _RANGE_RE.match(part)
        if m is None:
            continue
        code, q = m[1].lower(), float(m[2]) if m[2] is not None else 1.0
        if q <= 0 or code not in offered:
            continue
        if best is None or (q, -i) > (best[0], best[1]):
            best = (q, -i, code)
    return best[2] if best else None


class PhoneTexts:
    """The phone's texts: picks the language and renders the page and the error lines."""

    def __init__(self, texts: Texts | None = None) -> None:
        """Use the kiosk's texts (default: every bundled language)."""
        self.texts = texts or Texts(bundled_languages())

    def language(self, link_lang: str | None, accept_language: str = "") -> str:
        """The guest's kiosk language when the link has one, else the phone's, else English."""
        langs = self.texts.languages
        if link_lang in langs:
            return str(link_lang)
        return accepted(accept_language, langs) or FALLBACK

    def line(self, lang: str, key: str) -> str:
        """One error line ("phone.<key>")."""
        return self.texts.t(lang, f"phone.{key}")

    def page(self, lang: str, token: str, names: Sequence[str], minutes: int, downloads: int) -> str:
        """The download page: a thumbnail and a download button per photo, and what the link allows."""
        title = html.escape(self.texts.t(lang, "phone.title"))
        info = html.escape(self.texts.t(lang, "phone.info", minutes=minutes, downloads=downloads))
        button = html.escape(self.texts.t(lang, "phone.download"))
        items = []
        for name in names:
            n = html.escape(name)
            items.append(
                f'<div class="v"><img src="/d/{token}/t/{n}" alt="{n}">'
                f'<a class="b" href="/d/{token}/f/{n}" download="{n}">{button} {n}</a></div>'
            )
        return (
            f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            '<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">'
            f"<title>{title}</title><style>{STYLE}</style></head><body>"
            f"<h1>{title}</h1><p>{info}</p>" + "".join(items) + "</body></html>"
        )
