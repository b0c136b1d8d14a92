"""Intake foundation: identity, audit, payers, referrals, their items, timeline and clocks.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 00:21:27.954225
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audit_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=40), nullable=False),
        sa.Column("actor_label", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=True),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_records")),
    )
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_records_actor_user_id_at", ["actor_user_id", "at"], unique=False
        )
        batch_op.create_index(
            "ix_audit_records_case_number_at", ["case_number", "at"], unique=False
        )

    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("name", name=op.f("uq_organizations_name")),
    )
    op.create_table(
        "payers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "rules",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payers")),
        sa.UniqueConstraint("code", name=op.f("uq_payers_code")),
        sa.UniqueConstraint("name", name=op.f("uq_payers_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("phone_extension", sa.String(length=20), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_users_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_users_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("urgency", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("member_first_name", sa.String(length=100), nullable=False),
        sa.Column("member_last_name", sa.String(length=100), nullable=False),
        sa.Column("member_birth_date", sa.Date(), nullable=False),
        sa.Column("member_sex", sa.String(length=10), nullable=True),
        sa.Column("member_phone", sa.String(length=40), nullable=True),
        sa.Column("member_language", sa.String(length=40), nullable=True),
        sa.Column("member_time_zone", sa.String(length=64), nullable=True),
        sa.Column("member_key", sa.String(length=32), nullable=False),
        sa.Column("address_line1", sa.String(length=200), nullable=True),
        sa.Column("address_line2", sa.String(length=200), nullable=True),
        sa.Column("address_city", sa.String(length=200), nullable=True),
        sa.Column("address_state", sa.String(length=40), nullable=True),
        sa.Column("address_zip", sa.String(length=40), nullable=True),
        sa.Column(
            "access_barriers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("payer_id", sa.Integer(), nullable=True),
        sa.Column("payer_reference", sa.String(length=200), nullable=True),
        sa.Column("member_id", sa.String(length=60), nullable=True),
        sa.Column("group_number", sa.String(length=60), nullable=True),
        sa.Column("ordering_npi", sa.String(length=40), nullable=True),
        sa.Column("ordering_name", sa.String(length=200), nullable=True),
        sa.Column("ordering_organization", sa.String(length=200), nullable=True),
        sa.Column("ordering_phone", sa.String(length=40), nullable=True),
        sa.Column("ordering_fax", sa.String(length=40), nullable=True),
        sa.Column(
            "diagnoses",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("requested_start", sa.Date(), nullable=True),
        sa.Column("discharge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("signer_npi", sa.String(length=40), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("service_class", sa.String(length=30), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column(
            "findings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("escalation_reason", sa.String(length=300), nullable=True),
        sa.Column("ack_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_user_id", sa.Integer(), nullable=True),
        sa.Column("case_manager_name", sa.String(length=200), nullable=True),
        sa.Column("case_manager_extension", sa.String(length=40), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("referrer_organization_id", sa.Integer(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_user_id"],
            ["users.id"],
            name=op.f("fk_referrals_acknowledged_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["users.id"], name=op.f("fk_referrals_created_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["payer_id"], ["payers.id"], name=op.f("fk_referrals_payer_id_payers")
        ),
        sa.ForeignKeyConstraint(
            ["referrer_organization_id"],
            ["organizations.id"],
            name=op.f("fk_referrals_referrer_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("case_number", name=op.f("uq_referrals_case_number")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index("ix_referrals_external_id", ["external_id"], unique=False)
        batch_op.create_index(
            "ix_referrals_member_key_received_at", ["member_key", "received_at"], unique=False
        )
        batch_op.create_index("ix_referrals_member_last_name", ["member_last_name"], unique=False)
        batch_op.create_index(
            "ix_referrals_referrer_org_received_at",
            ["referrer_organization_id", "received_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_referrals_status_received_at", ["status", "received_at"], unique=False
        )

    op.create_table(
        "clocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("calendar", sa.String(length=20), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("rule_source", sa.String(length=300), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_clocks_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clocks")),
    )
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.create_index("ix_clocks_referral_id_kind", ["referral_id", "kind"], unique=False)
        batch_op.create_index("ix_clocks_status_due_at", ["status", "due_at"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_idempotency_keys_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint(
            "actor_user_id", "key", name=op.f("uq_idempotency_keys_actor_user_id_key")
        ),
    )
    op.create_table(
        "referral_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_events_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_events")),
    )
    with op.batch_alter_table("referral_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referral_events_referral_id_id", ["referral_id", "id"], unique=False
        )

    op.create_table(
        "referral_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("code_system", sa.String(length=10), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.String(length=200), nullable=True),
        sa.Column("rental", sa.Boolean(), nullable=True),
        sa.Column("description", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_items_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_items")),
        sa.UniqueConstraint("referral_id", "line", name=op.f("uq_referral_items_referral_id_line")),
    )
    with op.batch_alter_table("referral_items", schema=None) as batch_op:
        batch_op.create_index("ix_referral_items_code", ["code"], unique=False)

    _create_case_number_sequence()


def _create_case_number_sequence() -> None:
    # Case numbers come from a gap-tolerant counter (see careloop/db/sequences.py).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE case_number_seq START 1")
    else:
        op.create_table(
            "case_number_seq",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sqlite_autoincrement=True,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE case_number_seq")
    else:
        op.drop_table("case_number_seq")

    with op.batch_alter_table("referral_items", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_items_code")

    op.drop_table("referral_items")
    with op.batch_alter_table("referral_events", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_events_referral_id_id")

    op.drop_table("referral_events")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.drop_index("ix_clocks_status_due_at")
        batch_op.drop_index("ix_clocks_referral_id_kind")

    op.drop_table("clocks")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_status_received_at")
        batch_op.drop_index("ix_referrals_referrer_org_received_at")
        batch_op.drop_index("ix_referrals_member_last_name")
        batch_op.drop_index("ix_referrals_member_key_received_at")
        batch_op.drop_index("ix_referrals_external_id")

    op.drop_table("referrals")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_organization_id"))

    op.drop_table("users")
    op.drop_table("payers")
    op.drop_table("organizations")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_case_number_at")
        batch_op.drop_index("ix_audit_records_actor_user_id_at")

    op.drop_table("audit_records")
