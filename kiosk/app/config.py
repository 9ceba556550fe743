"""Config sections of the touchscreen app (`[ui]`) and of the lights (`[lights]`).

Kept free of Kivy and of `kiosk.config` (which imports this module).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from kiosk.config_base import ConfigSection

# The PIN "1234" that older releases shipped as the default, hashed by kiosk.app.operator.hash_pin: refused by
# `kiosk run`, `kiosk config check` and `kiosk doctor` like an unset PIN.
DEFAULT_PIN_HASH = (
    "pbkdf2_sha256$120000$6b696f736b2d64656661756c74$f88a42e64b8933b73756de6079a7e179f2f20c0ce59cdafad2eaf749d24b2169"
)
SUPPORTED_LANGUAGES = ("en", "es", "fr", "de", "pt", "zh")
PIN_HASH_RE = re.compile(r"^pbkdf2_sha256\$([0-9]{1,9})\$((?:[0-9a-f]{2}){8,64})\$([0-9a-f]{64})$")
PIN_ITERATIONS = (100_000, 10_000_000)  # PBKDF2-SHA256 rounds accepted in pin_hash
SET_PIN = "run `kiosk config pin` and put the line it prints under [ui]"



class TimeoutsConfig(ConfigSection):
    """How long each screen waits for the guest before acting on its own (seconds)."""

    language_s: float = Field(30.0, ge=3.0, le=600.0, description="Language screen idle timeout → attract, s.")
    consent_s: float = Field(45.0, ge=3.0, le=600.0, description="Consent screen idle timeout → attract, s.")
    framing_s: float = Field(60.0, ge=5.0, le=600.0, description="Live framing idle timeout → attract, s.")
    review_auto_confirm_s: float = Field(
        20.0, ge=2.0, le=600.0, description="Review screen: the capture is approved on its own after this, s."
    )
    style_s: float = Field(45.0, ge=3.0, le=600.0, description="Style choice idle timeout → attract, s.")
    delivery_s: float = Field(90.0, ge=5.0, le=900.0, description="Delivery screen idle timeout → attract, s.")
    thanks_s: float = Field(8.0, ge=1.0, le=120.0, description="How long the thank-you screen shows, s.")
    operator_s: float = Field(120.0, ge=10.0, le=3600.0, description="Operator menu idle timeout → attract, s.")
    failsafe_recover_s: float = Field(
        10.0,
        ge=1.0,
        le=600.0,
        description="After a one-off error, the 'attendant needed' screen recovers after this, s.",
    )
    processing_max_s: float = Field(
        180.0, ge=5.0, le=1800.0, description="Processing longer than this routes to 'attendant needed', s."
    )
    still_there_s: float = Field(
        10.0, ge=2.0, le=60.0,
        description="Before an idle timeout, 'Still there? Tap to continue' counts down this long, s "
        "(at most a third of the screen's own timeout).",
    )
    presence_max_s: float = Field(
        240.0, ge=0.0, le=3600.0,
        description="A guest's face near the camera counts as activity for this long after the last tap, s "
        "(0: only taps count); a face that stays longer still gets 'Still there?'.",
    )


class UIConfig(ConfigSection):
    """The touchscreen app (section `[ui]`)."""

    languages: list[str] = Field(
        list(SUPPORTED_LANGUAGES),
        min_length=1,
        max_length=12,
        description="Languages offered, in order (each needs kiosk/i18n/<code>.json or one in i18n_dir).",
    )
    default_language: str = Field("en", pattern=r"^[a-z]{2}$", description="Language of the attract screen.")
    i18n_dir: Path | None = Field(
        None, description="Folder of operator-edited <code>.json text files; they override the bundled ones."
    )
    orientation: Literal["auto", "portrait", "landscape"] = Field(
        "auto",
        description="Screen layout: portrait (1080×1920), landscape (1920×1080) or auto from the window.",
    )
    fullscreen: bool = Field(True, description="`kiosk run` fills the screen and hides the cursor.")
    window_width: int = Field(1080, ge=320, le=7680, description="Window width when not full screen, px.")
    window_height: int = Field(1920, ge=320, le=7680, description="Window height when not full screen, px.")
    countdown_s: int = Field(3, ge=1, le=10, description="Countdown before the capture, s.")
    retake_limit: int = Field(2, ge=0, le=10, description="How many retakes a guest may ask for.")
    stillness_s: float = Field(
        1.5, ge=0.2, le=10.0, description="Auto-capture once the guest is framed and still this long, s."
    )
    styles: list[str] = Field(
        ["studio-grey", "white", "brand", "blurred"],
        min_length=1,
        max_length=8,
        description="Background styles offered on the style screen (studio pipeline style names).",
    )
    style_previews: bool = Field(
        True, description="Show the guest on each backdrop on the style screen (made while they choose)."
    )
    formats: list[str] = Field(
        ["portrait", "linkedin"],
        min_length=1,
        max_length=4,
        description="Output formats produced for each session (studio pipeline format names).",
    )
    pin_hash: str | None = Field(
        None,
        max_length=300,
        description="Operator PIN (6 to 12 digits) as produced by `kiosk config pin` "
        "(pbkdf2_sha256$iterations$salt$hash). Unset: `kiosk run` refuses to start.",
    )
    pin_max_tries: int = Field(3, ge=1, le=20, description="Wrong PINs allowed before the operator menu locks.")
    pin_lockout_s: float = Field(
        300.0, ge=10.0, le=86400.0, description="First operator menu lock after too many wrong PINs, s."
    )
    pin_lockout_max_s: float = Field(
        86400.0,
        ge=10.0,
        le=604800.0,
        description="Each further lock doubles, up to this, s; the count survives restarts "
        "(data folder operator/pin-gate.json) and resets on the right PIN.",
    )
    operator_taps: int = Field(
        5,
        ge=3,
        le=12,
        description="Hidden gesture: this many taps in the top-left corner within 3 s opens the PIN pad.",
    )
    cjk_font: Path | None = Field(
        None, description="Font file with CJK glyphs; empty: Noto Sans CJK from the system (fonts-noto-cjk)."
    )
    tap_guard_s: float = Field(
        0.5, ge=0.2, le=1.5,
        description="A new screen (or dialog) ignores touches this long after it appears, so a double tap or a "
        "finger already coming down never presses the next screen's button, s.",
    )
    sound_cues: bool = Field(False, description="Play a soft tick each countdown second and a shutter at the capture.")
    large_text_scale: float = Field(
        1.3, ge=1.1, le=2.0, description="Text size factor of the guest's 'Larger text' button (language screen)."
    )
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig, description="Per-screen timeouts.")

    @field_validator("pin_hash")
    @classmethod
    def _pin_hash(cls, v: str | None) -> str | None:
        if v is None:
            return v
        m = PIN_HASH_RE.fullmatch(v)
        if m is None:
            raise ValueError(f"is not a PIN hash (pbkdf2_sha256$ITERATIONS$SALT$HASH): {SET_PIN}")
        lo, hi = PIN_ITERATIONS
        if not lo <= int(m[1]) <= hi:
            raise ValueError(f"has {int(m[1])} iterations, outside {lo}..{hi}: {SET_PIN}")
        return v

    @field_validator("languages")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        for code in v:
            if len(code) != 2 or not code.isalpha() or not code.islower():
                raise ValueError(f"language '{code}' is not a two-letter lower-case code such as 'en'")
        if len(set(v)) != len(v):
            raise ValueError("a language is listed twice")
        return v


def pin_problem(ui: UIConfig) -> str | None:
    """Why the operator PIN cannot guard a running kiosk (unset, or the old shipped default), or None."""
    if ui.pin_hash is None:
        return f"ui.pin_hash: no operator PIN is set: {SET_PIN}"
    if ui.pin_hash == DEFAULT_PIN_HASH:
        return f"ui.pin_hash: the operator PIN is the old default 1234: {SET_PIN}"
    return None
