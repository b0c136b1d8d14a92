"""Work items: what a person must do, from the moment it is needed until it is done
(DESIGN.md §3: a clock measures a promise; the work is a work item).

The workqueue domain is the only writer of this table. Items open and close on domain
events (a case's status changed, another domain's ``work.needed`` / ``work.done``); the
worker raises overdue ones up the escalation ladder.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, text, true
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import UTCDateTime

#: Open items are the rows without ``closed_at``; the partial indexes hold only them, so
#: the queue's cost follows the open work, not the history.
OPEN = "closed_at IS NULL"


class WorkItem(Base):
    __tablename__ = "work_items"
    __table_args__ = (
        # One open item per subject ("case:12:acknowledge", "offer:7"): a second
        # ``work.needed`` for the same subject updates the first.
        Index(
            "uq_work_items_open_subject",
            "subject",
            unique=True,
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
        # The queue: open items in the queue's own order (due time, a discharge first
        # among equal due times, the oldest item), for all teams, one team or one owner,
        # so that a page reads its rows off the index in order and stops.
        Index(
            "ix_work_items_open_due_at",
            "due_at",
            "discharge_last",
            "id",
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
        Index(
            "ix_work_items_open_team_due_at",
            "team",
            "due_at",
            "discharge_last",
            "id",
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
        Index(
            "ix_work_items_open_owner_due_at",
            "owner_user_id",
            "due_at",
            "discharge_last",
            "id",
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
        # How many cases a team's queue holds (the API's total): its open items in
        # case order, read from the index alone, distinct cases counted up to the cap.
        Index(
            "ix_work_items_open_team_referral_id",
            "team",
            "referral_id",
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
        # A case's open items (its most urgent one; "and N more"; closing them all).
        Index(
            "ix_work_items_open_referral_id_due_at",
            "referral_id",
            "due_at",
            "id",
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
        # The supervisor's and the manager's views (escalated work, in due order).
        Index(
            "ix_work_items_open_level_due_at",
            "level",
            "due_at",
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
        # The worker's ladder pass: open items whose next climb is due.
        Index(
            "ix_work_items_open_climbs_at",
            "climbs_at",
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
        # Every item of a case, open or done (its history).
        Index("ix_work_items_referral_id", "referral_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Some work has no case yet (a call about someone not yet referred, a credential).
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(40))
    team: Mapped[str] = mapped_column(String(30))
    # 1 the team or owner, 2 the team's supervisor, 3 the operations manager.
    level: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(300))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # False when a hospital discharge waits on the item's case (the referral is
    # discharge-urgent or carries a discharge time; ``rules.discharge_last``): among
    # items due at the same time those come first. The case's fact, copied here so the
    # queue's indexes hold its whole order; kept in step while the item is open (the
    # case's status changes and discharge reports reach ``service.on_status_changed``).
    discharge_last: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    level_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the item next climbs the ladder: its due time at level 1, the end of the
    # supervisor's window at level 2, null at the top (the worker reads this index only).
    climbs_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WorkItemCount(Base):
    """How many items are open per team and ladder level, kept in step with
    ``work_items`` by the workqueue domain (its only writer) in the same transaction as
    each item that opens, closes, changes team or climbs: the queue's header reads this
    small table instead of walking the open items' indexes on every request.

    A team and level's figure is the sum of its rows. Each database connection adds its
    changes to a row of its own (``slot``, drawn once per connection), so concurrent
    transactions never wait on, or deadlock over, a shared counter row; a row may go
    below zero (a connection closing what another opened), never the sum. Slot 0 holds
    what ``kept.fold_counts`` (the worker) has folded from the other slots."""

    __tablename__ = "work_item_counts"

    team: Mapped[str] = mapped_column(String(30), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    open_items: Mapped[int] = mapped_column(Integer)
