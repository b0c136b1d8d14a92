"""Member access by explicit link; a Unicode-correct duplicate key and its lock.

A member's account used to see every referral whose key (name with everything but a-z
removed, plus the birth date) equalled the key stored on the account: names written
without Latin letters all reduced to the birth date. Access is now a ``member_links``
row made by staff for a case. Links are carried over only where the old key was made
of the whole name (both names written in Latin letters alone); every other member
account is linked again by staff (``careloop user link-member EMAIL CASE_NUMBER``).

``referrals.member_key`` becomes ``duplicate_key``, recomputed from the name folded
with letters of every script kept; ``duplicate_key_locks`` serialises the duplicate
check of twin submissions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:00:00
"""

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The two folds are copied here, as they were when this revision was written: a
# migration must not change when the application's rules do.
_NOT_A_TO_Z = re.compile(r"[^a-z]")


def _old_fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return _NOT_A_TO_Z.sub("", "".join(c for c in decomposed if not unicodedata.combining(c)))


def _new_fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", value).casefold())
    return "".join(c for c in decomposed if unicodedata.category(c).startswith(("L", "Nd")))


def _key(fold: Callable[[str], str], first: str, last: str, born: date) -> str:
    raw = f"{fold(last)}|{fold(first)}|{born.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


_REFERRALS = sa.table(
    "referrals",
    sa.column("id", sa.Integer()),
    sa.column("member_first_name", sa.String()),
    sa.column("member_last_name", sa.String()),
    sa.column("member_birth_date", sa.Date()),
    sa.column("member_key", sa.String()),
    sa.column("duplicate_key", sa.String()),
)
_USERS = sa.table(
    "users",
    sa.column("id", sa.Integer()),
    sa.column("role", sa.String()),
    sa.column("member_key", sa.String()),
)
_LINKS = sa.table(
    "member_links",
    sa.column("user_id", sa.Integer()),
    sa.column("referral_id", sa.Integer()),
    sa.column("linked_at", sa.DateTime(timezone=True)),
    sa.column("linked_by_user_id", sa.Integer()),
)


def _rekey(column: str, fold: Callable[[str], str]) -> None:
    """Recompute every referral's key into ``column`` with ``fold``."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            _REFERRALS.c.id,
            _REFERRALS.c.member_first_name,
            _REFERRALS.c.member_last_name,
            _REFERRALS.c.member_birth_date,
        )
    ).all()
    if rows:
        connection.execute(
            _REFERRALS.update()
            .where(_REFERRALS.c.id == sa.bindparam("rid"))
            .values({column: sa.bindparam("new_key")}),
            [{"rid": r[0], "new_key": _key(fold, r[1], r[2], r[3])} for r in rows],
        )


def _carry_links_over() -> None:
    """Links for the old keys that named one person: both names in Latin letters only."""
    connection = op.get_bind()
    accounts = connection.execute(
        sa.select(_USERS.c.id, _USERS.c.member_key).where(
            _USERS.c.role == "member", _USERS.c.member_key.is_not(None)
        )
    ).all()
    by_key: dict[str, list[int]] = {}
    for user_id, key in accounts:
        by_key.setdefault(key, []).append(user_id)
    if not by_key:
        return
    cases = connection.execute(
        sa.select(
            _REFERRALS.c.id,
            _REFERRALS.c.member_first_name,
            _REFERRALS.c.member_last_name,
            _REFERRALS.c.member_key,
        ).where(_REFERRALS.c.member_key.in_(list(by_key)))
    ).all()
    now = datetime.now(UTC)
    links = [
        {"user_id": user_id, "referral_id": rid, "linked_at": now, "linked_by_user_id": None}
        for rid, first, last, key in cases
        if all(_old_fold(name) and _old_fold(name) == _new_fold(name) for name in (first, last))
        for user_id in by_key[key]
    ]
    if links:
        connection.execute(_LINKS.insert(), links)


def upgrade() -> None:
    op.create_table(
        "member_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["linked_by_user_id"],
            ["users.id"],
            name=op.f("fk_member_links_linked_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_member_links_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_member_links_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_links")),
        sa.UniqueConstraint(
            "user_id", "referral_id", name=op.f("uq_member_links_user_id_referral_id")
        ),
    )
    with op.batch_alter_table("member_links", schema=None) as batch_op:
        batch_op.create_index("ix_member_links_referral_id", ["referral_id"], unique=False)

    op.create_table(
        "duplicate_key_locks",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_duplicate_key_locks")),
    )

    _carry_links_over()

    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_member_key_received_at")
        batch_op.alter_column(
            "member_key",
            new_column_name="duplicate_key",
            existing_type=sa.String(length=32),
            existing_nullable=False,
        )
    _rekey("duplicate_key", _new_fold)
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referrals_duplicate_key_received_at",
            ["duplicate_key", "received_at"],
            unique=False,
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_member_key"))
        batch_op.drop_column("member_key")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_key", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_users_member_key"), ["member_key"], unique=False)

    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_duplicate_key_received_at")
        batch_op.alter_column(
            "duplicate_key",
            new_column_name="member_key",
            existing_type=sa.String(length=32),
            existing_nullable=False,
        )
    _rekey("member_key", _old_fold)
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referrals_member_key_received_at", ["member_key", "received_at"], unique=False
        )

    # An account keeps the key of the (first) case it was linked to.
    connection = op.get_bind()
    first_links = connection.execute(
        sa.select(_LINKS.c.user_id, sa.func.min(_LINKS.c.referral_id)).group_by(_LINKS.c.user_id)
    ).all()
    for user_id, referral_id in first_links:
        key = sa.select(_REFERRALS.c.member_key).where(_REFERRALS.c.id == referral_id)
        connection.execute(
            _USERS.update().where(_USERS.c.id == user_id).values(member_key=key.scalar_subquery())
        )

    op.drop_table("duplicate_key_locks")
    with op.batch_alter_table("member_links", schema=None) as batch_op:
        batch_op.drop_index("ix_member_links_referral_id")
    op.drop_table("member_links")
