"""A referral keeps its member's name as a search reads it (``member_name_search``: the
last and first name without accents, case-folded, and for a name in a script written
without spaces both run together), so that "muller" finds Müller and "陈美玲" finds 陈
美玲 on both databases. Filled here for the cases already stored. On PostgreSQL a
trigram index (pg_trgm) answers the search's "contains" for every word typed.

Revision ID: ce7529dc
Revises: 9d3e71b2
Create Date: 2026-12-04 23:00:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ce7529dc"
down_revision: str | None = "9d3e71b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_referrals_member_name_search"
_BATCH = 5_000

# The fold is copied here, as it was when this revision was written (referral.names.search_name):
# a migration must not change when the application's rules do.
_STROKES = str.maketrans("łøđħŧı", "lodhti")
_UNSPACED_SCRIPTS = ("CJK ", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR")


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", value).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_STROKES)


def _search_name(first_name: str, last_name: str) -> str:
    last, first = _fold(last_name), _fold(first_name)
    if not any(
        unicodedata.name(c, "").startswith(_UNSPACED_SCRIPTS) for c in last_name + first_name
    ):
        return f"{last} {first}"
    last_run, first_run = "".join(last.split()), "".join(first.split())
    return f"{last} {first} {last_run}{first_run} {first_run}{last_run}"


_REFERRALS = sa.table(
    "referrals",
    sa.column("id", sa.Integer()),
    sa.column("member_first_name", sa.String()),
    sa.column("member_last_name", sa.String()),
    sa.column("member_name_search", sa.Text()),
)


def _backfill() -> None:
    """Every stored case, a batch of ids at a time."""
    connection = op.get_bind()
    r = _REFERRALS.c
    after = 0
    while True:
        rows = connection.execute(
            sa.select(r.id, r.member_first_name, r.member_last_name)
            .where(r.id > after)
            .order_by(r.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        connection.execute(
            _REFERRALS.update()
            .where(r.id == sa.bindparam("rid"))
            .values(member_name_search=sa.bindparam("folded")),
            [{"rid": rid, "folded": _search_name(first, last)} for rid, first, last in rows],
        )
        after = rows[-1][0]


def upgrade() -> None:
    op.add_column(
        "referrals",
        sa.Column("member_name_search", sa.Text(), server_default="", nullable=False),
    )
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            _INDEX,
            "referrals",
            ["member_name_search"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"member_name_search": "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(_INDEX, table_name="referrals")
    with op.batch_alter_table("referrals") as batch_op:
        batch_op.drop_column("member_name_search")
