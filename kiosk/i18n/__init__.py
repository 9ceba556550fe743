"""Guest-facing text, one JSON file per language (`<code>.json`), editable by the operator.

Bundled files live next to this module; files in `ui.i18n_dir` override them key by key. A key missing
in a language falls back to English, so a half-translated file never shows a blank button.
"""

from __future__ import annotations

import json
from pathlib import Path

from kiosk.errors import ConfigError

BUNDLED = Path(__file__).resolve().parent
FALLBACK = "en"


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: not a readable JSON text file: {err}") from err
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ConfigError(f'{path}: must be one JSON object of "key": "text" pairs')
    return data


class Texts:
    """All languages' texts; `t(lang, key, **fmt)` looks one up."""

    def __init__(self, languages: list[str], override_dir: Path | None = None) -> None:
        """Load every language; raise ConfigError naming a file that is missing or malformed."""
        self.languages = list(languages)
        self._by_lang: dict[str, dict[str, str]] = {}
        for lang in dict.fromkeys([FALLBACK, *languages]):
            merged: dict[str, str] = {}
            bundled = BUNDLED / f"{lang}.json"
            override = override_dir / f"{lang}.json" if override_dir else None
            if not bundled.is_file() and not (override and override.is_file()):
                raise ConfigError(
                    f"ui.languages lists '{lang}' but there is no {lang}.json "
                    f"(add it to {override_dir or BUNDLED} or remove '{lang}')"
                )
            if bundled.is_file():
                merged.update(_read(bundled))
            if override is not None and override.is_file():
                merged.update(_read(override))
            self._by_lang[lang] = merged

    def t(self, lang: str, key: str, fallback: str | None = None, **fmt: object) -> str:
        """The text for key in lang (English when missing; then the fallback key's), formatted with fmt."""
        text = self._by_lang.get(lang, {}).get(key) or self._by_lang[FALLBACK].get(key)
        if text is None and fallback is not None:
            text = self._by_lang.get(lang, {}).get(fallback) or self._by_lang[FALLBACK].get(fallback)
        text = text or key
        return text.format(**fmt) if fmt else text

    @staticmethod
    def style_key(style: str) -> tuple[str, dict[str, object]]:
        """(key, keyword arguments of t()) naming a style card: "style.<name>".

        A model-pack preset ("ai:<preset>") that a language has no words for (bundled: studio, office,
        outdoor; an operator's file may add "style.ai:<preset>") is shown by the pack's own name in that
        language's "AI: {name}".
        """
        if style.startswith("ai:"):
            return f"style.{style}", {"fallback": "style.ai",
                                      "name": style[3:].replace("-", " ").replace("_", " ").title()}
        return f"style.{style}", {}

    def name(self, lang: str) -> str:
        """The language's own name ("Deutsch")."""
        return self._by_lang.get(lang, {}).get("language_name", lang)

    def missing(self, lang: str) -> list[str]:
        """English keys the language lacks."""
        return sorted(set(self._by_lang[FALLBACK]) - set(self._by_lang.get(lang, {})))
