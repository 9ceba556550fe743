"""Station modes: a preset of the session's steps, delivery channels and texts (`mode`, `[station]`).

Three kinds of booth share one kiosk:

- ``walk-in`` (the default): print and the phone QR, no extra step;
- ``hr-onboarding``: an id step (typed, or a badge / offer-letter QR held to the camera), the approved
  headshot exported under that id through `[delivery.handoff]` in its `format`; no QR unless
  `delivery.download.enabled` is set, no print unless `delivery.printing.printer` is;
- ``event``: an e-mail step (the guest's address, an opt-in box unticked by default under the consent text),
  the photo sent through `[delivery.mail]`, and with `station.lead_list` the opt-ins kept for the organiser.

A preset only supplies defaults: any key the config file sets wins (:func:`apply_preset` runs before
validation on the raw table). The steps follow the channels: the id step exists when a hand-off target is
set, the e-mail step when e-mail is on. :func:`mode_problems` names what a mode needs and lacks; the config
refuses those at load time, so `kiosk config check` and `kiosk run` say the same. No Kivy here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from kiosk.config_base import ConfigSection

if TYPE_CHECKING:
    from kiosk.config import KioskConfig

Mode = Literal["walk-in", "hr-onboarding", "event"]
MODES: tuple[str, ...] = ("walk-in", "hr-onboarding", "event")
# Texts a mode words its own way: screens ask for the plain key, the station answers "<key>@<mode>".
MODE_TEXTS: dict[str, tuple[str, ...]] = {
    "walk-in": (),
    "hr-onboarding": ("attract.subtitle", "consent.body"),
    "event": ("attract.subtitle", "consent.body"),
}


class StationConfig(ConfigSection):
    """The station's own steps: the id step and the e-mail step (section `[station]`)."""

    badge_scan: bool = Field(
        default=True,
        description="Id step: also read a badge or offer-letter QR code held up to the camera (besides typing).",
    )
    lead_list: bool = Field(
        default=False,
        description="E-mail step: keep the guests who ticked the opt-in (address, time, consent version) for "
        "the organiser's lead list (`kiosk leads`); deleted like all guest data after retention.max_age_hours.",
    )
    consent_version: str = Field(
        default="1",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$",
        description="Version of the opt-in consent text (text station.email.optin) recorded with each lead; "
        "change it whenever you change that text.",
    )
    step_s: float = Field(
        default=90.0, ge=10.0, le=900.0, description="Id and e-mail steps: idle timeout → attract, s."
    )


@dataclass(frozen=True)
class Plan:
    """What one mode makes of a session: its extra steps and where the photo goes."""

    mode: str
    identity_step: bool
    email_step: bool
    badge_scan: bool
    lead_list: bool
    handoff_target: str  # none, folder, sftp, webhook
    handoff_format: str
    consent_version: str
    step_s: float

    def text_key(self, key: str) -> str:
        """The i18n key a screen should show for key in this mode."""
        return f"{key}@{self.mode}" if key in MODE_TEXTS.get(self.mode, ()) else key


WALK_IN = Plan("walk-in", False, False, False, False, "none", "portrait", "1", 90.0)


def plan_for(cfg: KioskConfig) -> Plan:
    """The station plan of a validated config."""
    handoff, st = cfg.delivery.handoff, cfg.station
    return Plan(
        mode=cfg.mode,
        identity_step=handoff.target != "none",
        email_step=cfg.delivery.mail.enabled,
        badge_scan=st.badge_scan,
        lead_list=st.lead_list and cfg.delivery.mail.enabled,
        handoff_target=handoff.target,
        handoff_format=handoff.format,
        consent_version=st.consent_version,
        step_s=st.step_s,
    )


def _preset(mode: str, data: Mapping[str, Any]) -> dict[tuple[str, ...], Any]:
    """The defaults a mode gives (key path → value); keys the config sets are left alone."""
    if mode == "hr-onboarding":
        handoff = _get(data, ("delivery", "handoff"))
        fmt = _get(handoff, ("format",)) if handoff is not None else None
        return {
            ("delivery", "download", "enabled"): False,  # no QR unless configured
            ("delivery", "handoff", "format"): "badge",
            ("ui", "formats"): [fmt if isinstance(fmt, str) else "badge"],  # the exported photo is the one shown
        }
    if mode == "event":
        return {("delivery", "mail", "enabled"): True}
    return {}


def _get(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if isinstance(node, BaseModel):
            node = getattr(node, key, None) if key in node.model_fields_set else None
        elif isinstance(node, Mapping):
            node = node.get(key)
        else:
            return None
    return node


def _with_default(node: Any, path: tuple[str, ...], value: Any) -> Any:
    """Node with value at path unless something is set there (a table or an already built section)."""
    key, rest = path[0], path[1:]
    if isinstance(node, BaseModel):
        if key in node.model_fields_set and not rest:
            return node
        child = getattr(node, key)
        return node.model_copy(update={key: _with_default(child, rest, value) if rest else value})
    if isinstance(node, Mapping):
        if not rest:
            return node if key in node else {**node, key: value}
        return {**node, key: _with_default(node.get(key, {}), rest, value)}
    return node  # not a table: validation refuses it with its own message


def apply_preset(data: Any) -> Any:
    """The raw config table with the mode's defaults filled in where the file sets nothing."""
    if not isinstance(data, Mapping):
        return data
    mode = data.get("mode", "walk-in")
    if mode not in MODES:
        return data  # validation names the bad mode
    out: Any = dict(data)
    for path, value in _preset(str(mode), data).items():
        out = _with_default(out, path, value)
    return out


def mode_problems(cfg: KioskConfig) -> list[str]:
    """What the configured mode needs and lacks, each with the fix (empty: nothing)."""
    problems = []
    d = cfg.delivery
    if cfg.mode == "hr-onboarding" and d.handoff.target == "none":
        problems.append("mode 'hr-onboarding' needs a hand-off target: set delivery.handoff.target to folder, "
                        "sftp or webhook (with its keys)")
    if cfg.mode == "event" and not d.mail.enabled:
        problems.append("mode 'event' needs e-mail: delivery.mail.enabled is false (set it true with your SMTP "
                        "relay under [delivery.mail])")
    if d.handoff.target != "none" and d.handoff.format not in cfg.ui.formats:
        problems.append(f"delivery.handoff.format '{d.handoff.format}' is not made: add it to ui.formats "
                        f"{list(cfg.ui.formats)}")
    if cfg.station.lead_list and not d.mail.enabled:
        problems.append("station.lead_list needs the e-mail step: set delivery.mail.enabled = true (or mode = "
                        "'event')")
    return problems


def mode_warnings(cfg: KioskConfig) -> list[str]:
    """What the configured mode will probably not do as meant (printed by `kiosk config check`)."""
    warnings = []
    d = cfg.delivery
    if d.mail.enabled and d.mail.host == "localhost" and d.mail.security != "none":
        warnings.append("delivery.mail.host is localhost: set your SMTP relay (check it with `kiosk doctor`)")
    if cfg.mode == "hr-onboarding" and d.download.enabled:
        warnings.append("mode 'hr-onboarding' with delivery.download.enabled = true: guests also get the QR code")
    return warnings


def describe(plan: Plan) -> str:
    """One line for logs and the CLI: the mode, its steps and channels (no guest data)."""
    steps = [s for s, on in (("id", plan.identity_step), ("e-mail", plan.email_step)) if on]
    out = f"mode {plan.mode}: steps {', '.join(steps) or 'none besides the photo'}"
    if plan.identity_step:
        out += f"; hand-off to {plan.handoff_target} as {plan.handoff_format}"
    if plan.lead_list:
        out += f"; lead list (consent v{plan.consent_version})"
    return out


def _merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def with_mode(cfg: KioskConfig, mode: str, changes: Mapping[str, Any] | None = None) -> KioskConfig:
    """The config switched to another mode with changes (nested tables) on top, validated again (the demo's)."""
    from kiosk.config import parse_config

    data = _merge(cfg.model_dump(exclude_unset=True), {"mode": mode, **(changes or {})})
    return parse_config(data, f"mode {mode}")
