"""Duplicate detection at intake: the same person, ordering clinician and item within
the payer's window. Findings name the other case; who may read that name is decided
where the case is read (:func:`rules.redact_findings`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from careloop.referral import repository, rules
from careloop.referral.schemas import ReferralCreate


def findings(
    session: Session,
    draft: ReferralCreate,
    key: str,
    *,
    since: datetime,
    now: datetime,
    exclude_id: int | None,
    lock: bool,
) -> list[rules.Finding]:
    """Possible duplicates of a draft: open cases of the same person (``key``, see
    :func:`rules.duplicate_key`), ordering NPI and an item, received since ``since``.
    With ``lock`` (a write follows) the key is locked first: of N twins arriving at
    once, each waits for the one before it to commit and then sees it, so exactly N-1
    are flagged, on both databases."""
    npi = draft.ordering_provider.npi if draft.ordering_provider else None
    if not npi:
        return []
    if lock:
        repository.lock_duplicate_key(session, key, now)
    matches = repository.recent_open_matches(
        session,
        duplicate_key=key,
        ordering_npi=npi,
        item_codes=[item.code.upper() for item in draft.items],
        since=since,
        exclude_id=exclude_id,
    )
    return [
        rules.possible_duplicate(case_number, (now - received).total_seconds() / 3600)
        for case_number, received in matches
    ]
