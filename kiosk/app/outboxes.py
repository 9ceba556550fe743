"""The e-mail and hand-off outboxes of a running kiosk, and the event's lead list, over the session store.

Built by :func:`kiosk.app.assemble.assemble` from `[delivery.mail]` and `[delivery.handoff]` (only what is
configured), started with the kiosk and stopped by `KioskParts.close`. Each queued item sits in a store
session of its own (meta ``{"outbox": kind}``, advanced to delivered at once), so what the screen promised
is sent even when the guest walks away from the delivery screen (which deletes the guest's own session at
once), while retention's hard cap (`retention.max_age_hours`) and `kiosk wipe` still reach it. A lead-list
row (an opt-in) is kept the same way, kind ``lead``, until that hard cap.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kiosk.config import KioskConfig
from kiosk.delivery.handoff import HandoffOutbox
from kiosk.delivery.mail import MailOutbox
from kiosk.delivery.outbox import Outbox
from kiosk.i18n import Texts
from kiosk.session.store import SessionStore, Step
from kiosk.status import Level, PartStatus

log = logging.getLogger(__name__)
LEAD_FILE = "lead.csv"
LEAD_COLUMNS = ("time_utc", "email", "consent_version")


@dataclass
class Outboxes:
    """The configured outboxes (None where the channel is off)."""

    store: SessionStore
    mail: MailOutbox | None = None
    handoff: HandoffOutbox | None = None

    @classmethod
    def from_config(cls, cfg: KioskConfig, store: SessionStore) -> Outboxes:
        """The outboxes a config asks for (mail when enabled, hand-off when a target is set)."""
        d = cfg.delivery
        return cls(
            store,
            MailOutbox(store, d.mail, texts=Texts(list(cfg.ui.languages), cfg.ui.i18n_dir)) if d.mail.enabled else None,
            HandoffOutbox(store, d.handoff) if d.handoff.target != "none" else None,
        )

    def _all(self) -> list[Outbox]:
        return [o for o in (self.mail, self.handoff) if o is not None]

    def start(self) -> Outboxes:
        """Start the sender threads (items left from before a restart are sent first)."""
        for o in self._all():
            o.start()
        return self

    def stop(self) -> None:
        """Stop the sender threads (queued items stay in the store for the next start)."""
        for o in self._all():
            o.stop()

    def _holder(self, kind: str) -> str:
        """A store session that holds one outbox item or lead row past the guest's session."""
        rec = self.store.create({"outbox": kind})
        return rec.id

    def _seal(self, session_id: str) -> None:
        # Delivered at once: nothing of the session itself remains, so it lives exactly as long as its item.
        self.store.advance(session_id, Step.DELIVERED)

    def _held_by_own_session(self, kind: str, put: Callable[[str], object]) -> str:
        """Queue one item with put(session id) in a store session of its own; that session's id."""
        sid = self._holder(kind)
        try:
            put(sid)
        except BaseException:
            self.store.delete(sid)  # refused (a bad address, a full disk): nothing half-queued stays
            raise
        self._seal(sid)
        return sid

    def send_mail(self, address: str, attachments: Mapping[str, bytes], language: str) -> str:
        """Queue the guest's photos to address, in the guest's language; the id of the store session holding it."""
        mail = self.mail
        assert mail is not None  # reason: the station offers the e-mail step only when mail is on
        return self._held_by_own_session("mail", lambda sid: mail.queue(sid, address, attachments, language))

    def export(self, identity: str, jpeg: bytes) -> str:
        """Queue the approved headshot under identity; the id of the store session holding it."""
        handoff = self.handoff
        assert handoff is not None  # reason: the station offers the id step only with a target
        return self._held_by_own_session("handoff", lambda sid: handoff.queue(sid, identity, jpeg))

    def add_lead(self, address: str, consent_version: str, now: float | None = None) -> str:
        """Keep one opt-in for the organiser (retention deletes it with the rest); its store session id."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
        buf = io.StringIO()
        # A spreadsheet runs a cell starting with = + - @ as a formula: such an address is written quoted off.
        cell = "'" + address if address[:1] in ("=", "+", "-", "@") else address
        csv.writer(buf, lineterminator="\n").writerow((stamp, cell, consent_version))
        sid = self._holder("lead")
        self.store.write_file(sid, "lead", LEAD_FILE, buf.getvalue().encode("utf-8"))
        self._seal(sid)
        log.info("lead-list row kept in session %s", sid)
        return sid

    def outcome(self, session_id: str, kind: str) -> str:
        """What became of one queued item: sent, failed, needs operator, expired unsent, or queued."""
        rec = self.store.journal.get(session_id)
        if rec is None:
            return "expired unsent"
        return str(rec.meta.get(kind, "queued"))

    def retry_now(self) -> str:
        """Send every queued item now (the operator's Retry sending), held ones included: one line for the menu."""
        boxes = self._all()
        if not boxes:
            return "no e-mail or hand-off is configured"
        return f"retrying {sum(o.retry_now() for o in boxes)} queued item(s) now"

    def status(self) -> dict[str, PartStatus]:
        """One line per configured outbox for the operator's menu (needs operator: FAIL, with the count)."""
        out: dict[str, PartStatus] = {}
        for name, box in (("e-mail", self.mail), ("hand-off", self.handoff)):
            if box is None:
                continue
            try:
                out[name] = box.status()
            except Exception as err:  # noqa: BLE001  # reason: a status line must never break the operator menu
                out[name] = PartStatus(f"status unavailable: {err}", Level.WARN)
        return out


def lead_rows(store: SessionStore) -> list[list[str]]:
    """Every lead-list row the store still holds, oldest first (`kiosk leads`)."""
    rows: list[list[str]] = []
    for f in store.files_of_kind("lead"):
        try:
            text = f.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue  # retention removed it meanwhile
        rows.extend(csv.reader(io.StringIO(text)))
    return sorted(rows)


def lead_csv(store: SessionStore) -> str:
    """The lead list as CSV with a header row (opt-ins only: nobody else was written)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LEAD_COLUMNS)
    w.writerows(lead_rows(store))
    return buf.getvalue()


def write_lead_csv(store: SessionStore, out: Path) -> int:
    """Write the lead list to out (owner-only, atomically); return how many rows."""
    from models.store import atomic_write_bytes

    text = lead_csv(store)
    atomic_write_bytes(out, text.encode("utf-8"))
    return text.count("\n") - 1
