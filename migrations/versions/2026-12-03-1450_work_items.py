"""Work items: what a person must do, open until it is done, whatever its clocks say.
Every open case gets the items its status calls for, so an upgrade loses no work.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-03 14:50:00
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from careloop.workqueue import rules

revision: str = "0010"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("closed_at IS NULL")
_BATCH = 5_000


def upgrade() -> None:
    op.create_table(
        "work_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("team", sa.String(length=30), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("level_raised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("climbs_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_user_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_work_items_owner_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_work_items_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_items")),
    )
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.create_index(
            "uq_work_items_open_subject",
            ["subject"],
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        )
        batch_op.create_index(
            "ix_work_items_open_due_at",
            ["due_at", "id"],
            unique=False,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        )
        batch_op.create_index(
            "ix_work_items_open_team_due_at",
            ["team", "due_at", "id"],
            unique=False,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        )
        batch_op.create_index(
            "ix_work_items_open_owner_due_at",
            ["owner_user_id", "due_at"],
            unique=False,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        )
        batch_op.create_index(
            "ix_work_items_open_referral_id_due_at",
            ["referral_id", "due_at", "id"],
            unique=False,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        )
        batch_op.create_index(
            "ix_work_items_open_level_due_at",
            ["level", "due_at"],
            unique=False,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        )
        batch_op.create_index(
            "ix_work_items_open_climbs_at",
            ["climbs_at"],
            unique=False,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        )
        batch_op.create_index("ix_work_items_referral_id", ["referral_id"], unique=False)
    _backfill()


def _backfill() -> None:
    """The items every open case's status calls for (workqueue.rules.needed_work), due by
    its own deadlines, in batches of cases."""
    bind = op.get_bind()
    referrals = sa.table(
        "referrals",
        sa.column("id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.column("ack_due_at", sa.DateTime(timezone=True)),
        sa.column("service_due_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    clocks = sa.table(
        "clocks",
        sa.column("referral_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("status", sa.String),
        sa.column("due_at", sa.DateTime(timezone=True)),
    )
    items = sa.table(
        "work_items",
        *(sa.column(name) for name in ("referral_id", "subject", "kind", "team", "level", "title")),
        sa.column("due_at", sa.DateTime(timezone=True)),
        sa.column("opened_at", sa.DateTime(timezone=True)),
        sa.column("climbs_at", sa.DateTime(timezone=True)),
    )
    after = 0
    while True:
        batch = bind.execute(
            sa.select(referrals)
            .where(referrals.c.status.not_in(["closed", "cancelled"]), referrals.c.id > after)
            .order_by(referrals.c.id)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        first, after = batch[0].id, batch[-1].id
        due: dict[int, dict[str, datetime]] = defaultdict(dict)
        for row in bind.execute(
            sa.select(clocks.c.referral_id, clocks.c.kind, sa.func.min(clocks.c.due_at))
            .where(
                clocks.c.status == "open",
                clocks.c.referral_id.between(first, after),
            )
            .group_by(clocks.c.referral_id, clocks.c.kind)
        ):
            due[row[0]][row[1]] = row[2]
        rows: list[dict[str, Any]] = []
        for r in batch:
            facts = rules.CaseFacts(
                referral_id=r.id,
                status=r.status,
                acknowledged=r.acknowledged_at is not None,
                ack_due_at=r.ack_due_at,
                service_due_at=r.service_due_at,
                changed_at=r.updated_at,
                clock_due=due.get(r.id, {}),
            )
            rows.extend(
                {
                    "referral_id": r.id,
                    "subject": work.subject,
                    "kind": work.kind,
                    "team": work.team,
                    "level": rules.TEAM_LEVEL,
                    "title": work.title,
                    "due_at": work.due_at,
                    "opened_at": r.updated_at,
                    "climbs_at": work.due_at,
                }
                for work in rules.needed_work(facts)
            )
        if rows:
            bind.execute(sa.insert(items), rows)


def downgrade() -> None:
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.drop_index("ix_work_items_referral_id")
        batch_op.drop_index("ix_work_items_open_climbs_at", sqlite_where=_OPEN)
        batch_op.drop_index("ix_work_items_open_level_due_at", sqlite_where=_OPEN)
        batch_op.drop_index("ix_work_items_open_referral_id_due_at", sqlite_where=_OPEN)
        batch_op.drop_index("ix_work_items_open_owner_due_at", sqlite_where=_OPEN)
        batch_op.drop_index("ix_work_items_open_team_due_at", sqlite_where=_OPEN)
        batch_op.drop_index("ix_work_items_open_due_at", sqlite_where=_OPEN)
        batch_op.drop_index("uq_work_items_open_subject", sqlite_where=_OPEN)
    op.drop_table("work_items")
