"""Retention policy of guest data: what is deleted when, as a strict config section (`[retention]`).

Default policy (documented in README.md):

- At session end (the session reaches DELIVERED) its captures, results, thumbnails and spooled print
  copies are deleted at once (`delete_on_delivery`).
- A download copy lives until its link expires (`delivery.download.link_minutes`) or is used up, or
  (`delivery.download.keep_after_session`, the default), or when the session ends on the kiosk if that is false;
  a queued e-mail or hand-off lives until it is sent (or until the hard cap below); an event's lead-list row
  (a guest's opt-in, `station.lead_list`) lives until the hard cap below.
- What a station step typed (employee id, e-mail address) is deleted at session end with the capture.
- A session that never reached CAPTURED (the guest walked away) is deleted `abandoned_minutes` after its
  last step; nothing was promised to that guest.
- Nothing lives longer than `max_age_hours` (default 24 h) after its session was created, whatever its state.
- `kiosk wipe` deletes everything now.
"""

from __future__ import annotations

from pydantic import Field

from kiosk.config_base import ConfigSection

# Kinds of guest file the store tracks. The first four belong to the session itself and go at session end;
# the others outlive it for a while (a download link, an outbox waiting for the network).
# "contact" holds what a station step typed (an employee id, an e-mail address) until the session ends;
# "lead" is an event's opt-in row, kept for the organiser's lead list until the hard cap.
SESSION_KINDS: tuple[str, ...] = ("capture", "result", "thumb", "print", "contact")
OUTLIVING_KINDS: tuple[str, ...] = ("download", "mail", "handoff", "lead")
KINDS: tuple[str, ...] = SESSION_KINDS + OUTLIVING_KINDS


class RetentionConfig(ConfigSection):
    """When guest data is deleted (section `[retention]`)."""

    delete_on_delivery: bool = Field(
        default=True,
        description="Delete captures, results, thumbnails and print copies once a session is delivered.",
    )
    max_age_hours: float = Field(
        default=24.0,
        gt=0.0,
        le=168.0,
        description="Hard cap: any guest file is deleted this many hours after its session began.",
    )
    abandoned_minutes: float = Field(
        default=30.0,
        gt=0.0,
        le=1440.0,
        description="A session that never reached 'captured' is deleted this long after its last step, min.",
    )
    sweep_interval_s: float = Field(
        default=60.0, ge=1.0, le=3600.0, description="How often the background sweeper runs, seconds."
    )
    keep_journal_days: float = Field(
        default=7.0,
        ge=0.0,
        le=365.0,
        description="Rows of deleted sessions (ids and step times, no guest data) are kept this long, days.",
    )
