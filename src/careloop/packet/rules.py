"""What the packet holds and in what order (pure)."""

from __future__ import annotations

from typing import Final

#: The sections of the packet, each a bookmark, in this order. The documents follow
#: under their own bookmark, one child per document.
COVER: Final = "Cover"
TIMELINE: Final = "Timeline"
CONTACTS: Final = "Contacts and escalations"
DISPUTES: Final = "Denial and appeals"
DOCUMENTS: Final = "Documents"
SECTIONS: Final = (COVER, TIMELINE, CONTACTS, DISPUTES, DOCUMENTS)

#: The timeline event that records a packet and its SHA-256.
MADE_EVENT: Final = "packet.made"

#: Timeline events that say something was missed (a breached clock, a lapsed window).
MISSED_EVENTS: Final = frozenset(
    {"sla.breached", "service.missed", "supply.missed", "delay.missed", "appeal.lapsed"}
)
VERIFIED_EVENT: Final = "eligibility.verified"
SCHEDULED_EVENTS: Final = frozenset({"appointment.scheduled", "appointment.rescheduled"})


def promise_words(kept: bool | None) -> str:
    if kept is None:
        return "not yet due"
    return "kept" if kept else "missed"
