"""Provider network (organisations, service lines, areas, payer networks, fee schedules,
credentials) and offers; referrals gain their assigned provider, events a provider id.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:00:16.900979
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("npi", sa.String(length=10), nullable=False),
        sa.Column("ein", sa.String(length=10), nullable=False),
        sa.Column("taxonomy_code", sa.String(length=10), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("after_hours_phone", sa.String(length=40), nullable=True),
        sa.Column("contact_name", sa.String(length=200), nullable=True),
        sa.Column("contact_email", sa.String(length=254), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column(
            "languages",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("checklist_complete", sa.Boolean(), nullable=False),
        sa.Column("offerable_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_providers_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        sa.UniqueConstraint("npi", name=op.f("uq_providers_npi")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_providers_organization_id")),
    )
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_providers_offerable", ["checklist_complete", "offerable_until"], unique=False
        )

    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("attested_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_credentials_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index("ix_credentials_expires_on", ["expires_on"], unique=False)
        batch_op.create_index("ix_credentials_provider_id", ["provider_id"], unique=False)

    op.create_table(
        "provider_networks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("payer_id", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["payer_id"], ["payers.id"], name=op.f("fk_provider_networks_payer_id_payers")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_networks_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_networks")),
    )
    with op.batch_alter_table("provider_networks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provider_networks_payer", ["payer_id", "provider_id"], unique=False
        )
        batch_op.create_index("ix_provider_networks_provider_id", ["provider_id"], unique=False)

    op.create_table(
        "provider_service_areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("zip_code", sa.String(length=5), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("county", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_service_areas_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_service_areas")),
    )
    with op.batch_alter_table("provider_service_areas", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provider_service_areas_county", ["state", "county", "provider_id"], unique=False
        )
        batch_op.create_index(
            "ix_provider_service_areas_provider_id", ["provider_id"], unique=False
        )
        batch_op.create_index(
            "ix_provider_service_areas_zip", ["zip_code", "provider_id"], unique=False
        )

    op.create_table(
        "provider_service_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("service_line", sa.String(length=20), nullable=False),
        sa.Column(
            "categories",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("daily_capacity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_service_lines_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_service_lines")),
        sa.UniqueConstraint(
            "provider_id",
            "service_line",
            name=op.f("uq_provider_service_lines_provider_id_service_line"),
        ),
    )
    with op.batch_alter_table("provider_service_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provider_service_lines_service_line", ["service_line", "provider_id"], unique=False
        )

    op.create_table(
        "fee_schedule_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_network_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("allowed_amount", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_network_id"],
            ["provider_networks.id"],
            name=op.f("fk_fee_schedule_entries_provider_network_id_provider_networks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_schedule_entries")),
        sa.UniqueConstraint(
            "provider_network_id",
            "code",
            "mode",
            name=op.f("uq_fee_schedule_entries_provider_network_id_code_mode"),
        ),
    )
    op.create_table(
        "offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("service_line", sa.String(length=20), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column(
            "reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offered_by_user_id", sa.Integer(), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decline_reason", sa.String(length=40), nullable=True),
        sa.Column("decline_note", sa.String(length=500), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_offers_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_offers_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_offers_provider_id_status", ["provider_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_offers_provider_id_offered_at", ["provider_id", "offered_at"], unique=False
        )
        batch_op.create_index("ix_offers_referral_id", ["referral_id"], unique=False)
        batch_op.create_index(
            "uq_offers_one_accepted_per_referral",
            ["referral_id"],
            unique=True,
            sqlite_where=sa.text("status = 'accepted'"),
            postgresql_where=sa.text("status = 'accepted'"),
        )
        batch_op.create_index(
            "uq_offers_one_pending_per_referral",
            ["referral_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offer_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("provider_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("credential_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("referral_id", existing_type=sa.INTEGER(), nullable=True)

    with op.batch_alter_table("referral_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_referral_events_provider_id_at", ["provider_id", "at"], unique=False
        )

    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_provider_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_referrals_assigned_provider_id_providers"),
            "providers",
            ["assigned_provider_id"],
            ["id"],
        )


def downgrade() -> None:

    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_referrals_assigned_provider_id_providers"), type_="foreignkey"
        )
        batch_op.drop_column("assigned_provider_id")

    with op.batch_alter_table("referral_events", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_events_provider_id_at")
        batch_op.drop_column("provider_id")

    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.alter_column("referral_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("fired_at")
        batch_op.drop_column("credential_id")
        batch_op.drop_column("provider_id")
        batch_op.drop_column("offer_id")

    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_offers_one_pending_per_referral",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index(
            "uq_offers_one_accepted_per_referral",
            sqlite_where=sa.text("status = 'accepted'"),
            postgresql_where=sa.text("status = 'accepted'"),
        )
        batch_op.drop_index("ix_offers_referral_id")
        batch_op.drop_index("ix_offers_provider_id_offered_at")
        batch_op.drop_index("ix_offers_provider_id_status")

    op.drop_table("offers")
    op.drop_table("fee_schedule_entries")
    with op.batch_alter_table("provider_service_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_service_lines_service_line")

    op.drop_table("provider_service_lines")
    with op.batch_alter_table("provider_service_areas", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_service_areas_zip")
        batch_op.drop_index("ix_provider_service_areas_provider_id")
        batch_op.drop_index("ix_provider_service_areas_county")

    op.drop_table("provider_service_areas")
    with op.batch_alter_table("provider_networks", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_networks_provider_id")
        batch_op.drop_index("ix_provider_networks_payer")

    op.drop_table("provider_networks")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index("ix_credentials_provider_id")
        batch_op.drop_index("ix_credentials_expires_on")

    op.drop_table("credentials")
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.drop_index("ix_providers_offerable")

    op.drop_table("providers")
