"""The case facts count claims, missed filing windows and complaints about the
provider's care (the KPI pack's timely-filing and scorecard figures).

Existing rows read 0 until folded again: the facts' watermark is reset, so the worker
folds every case from the event log once more (as ``rebuild_facts`` would).

Revision ID: 0023
Revises: c7a1e277
Create Date: 2026-12-03 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "c7a1e277"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("claims", "filing_missed", "grievances", "grievances_substantiated")


def upgrade() -> None:
    with op.batch_alter_table("report_case_facts", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0"))
            )
    op.execute("DELETE FROM report_snapshots WHERE name = 'case_facts:last_event_id'")


def downgrade() -> None:
    with op.batch_alter_table("report_case_facts", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
