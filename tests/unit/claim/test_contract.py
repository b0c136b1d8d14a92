"""A payer's claim contract (``rules.claims``) and the coordinator's billing identity:
every figure read from settings, every bad one refused naming the setting and the rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from careloop.claim import rules, service
from careloop.settings import Settings
from careloop.startup import check_configuration


class TestClaimRules:
    def test_every_contract_figure_is_read_when_the_payer_sets_it(self) -> None:
        contract = rules.claim_rules(
            {
                "billed_by": "coordinator",
                "filing_days": 180,
                "warn_share": "0.5",
                "escalate_days_before": 14,
                "rounding": "half_even",
                "filing_indicator": "MC",
                "status_inquiry_days": 21,
                "fee_schedule": {"E0260-RR": "150.00", "a6212": 3, "E0781-RR": "410.5"},
            }
        )
        assert contract.billed_by is rules.BilledBy.coordinator
        assert (contract.filing_days, contract.escalate_days_before) == (180, 14)
        assert contract.warn_share == Decimal("0.5")
        assert contract.rounding is rules.Rounding.half_even
        assert (contract.filing_indicator, contract.status_inquiry_days) == ("MC", 21)
        assert contract.fee_schedule[("E0260", "RR")] == Decimal("150.00")
        assert contract.fee_schedule[("A6212", "")] == Decimal("3.00")
        assert contract.fee_schedule[("E0781", "RR")] == Decimal("410.50")
        # A code the contract does not name keeps the default price.
        assert contract.fee_schedule[("E0260", "NU")] == rules.DEFAULT_FEE_SCHEDULE[("E0260", "NU")]

    def test_the_defaults_hold_when_the_payer_says_nothing(self) -> None:
        assert rules.claim_rules(None) == rules.DEFAULT_CLAIM_RULES
        assert rules.claim_rules({}) == rules.DEFAULT_CLAIM_RULES

    def test_the_window_shapes_the_filing_clock(self) -> None:
        contract = rules.claim_rules(
            {"filing_days": 60, "warn_share": "0.5", "escalate_days_before": 10}
        )
        start = datetime(2026, 3, 3, tzinfo=UTC)
        window = rules.filing_window(start, contract)
        assert window.warn_at == start + timedelta(days=30)
        assert window.escalate_at == start + timedelta(days=50)
        assert window.closes == start + timedelta(days=60)

    @pytest.mark.parametrize(
        ("settings", "field", "words"),
        [
            ({"filing_days": 20}, "rules.claims.filing_days", "30-180 days, not 20"),
            ({"filing_days": 181}, "rules.claims.filing_days", "30-180 days, not 181"),
            ({"filing_days": "90"}, "rules.claims.filing_days", "whole number"),
            ({"filing_days": True}, "rules.claims.filing_days", "whole number"),
            ({"warn_share": 1.5}, "rules.claims.warn_share", "between 0 and 1"),
            ({"warn_share": "soon"}, "rules.claims.warn_share", "between 0 and 1"),
            ({"escalate_days_before": 90}, "rules.claims.escalate_days_before", "0-89 days"),
            ({"billed_by": "hospital"}, "rules.claims.billed_by", "provider, coordinator"),
            ({"filing_indicator": "ZZ"}, "rules.claims.filing_indicator", "one of"),
            ({"rounding": "up"}, "rules.claims.rounding", "half_up"),
            ({"status_inquiry_days": 0}, "rules.claims.status_inquiry_days", "1-180"),
            ({"fee_days": 3}, "rules.claims.fee_days", "not a claim setting"),
            ({"fee_schedule": ["E0260"]}, "rules.claims.fee_schedule", "an object of prices"),
            (
                {"fee_schedule": {"E0260-RR": 178.4}},
                "rules.claims.fee_schedule.E0260-RR",
                "not a float",
            ),
            (
                {"fee_schedule": {"E0260-RR": "-1.00"}},
                "rules.claims.fee_schedule.E0260-RR",
                "cannot be negative",
            ),
            (
                {"fee_schedule": {"E0260-RR": "1.005"}},
                "rules.claims.fee_schedule.E0260-RR",
                "whole cents",
            ),
            (
                {"fee_schedule": {"E0260-RR": "lots"}},
                "rules.claims.fee_schedule.E0260-RR",
                "not an amount",
            ),
            (
                {"fee_schedule": {"E0260-RR": "NaN"}},
                "rules.claims.fee_schedule.E0260-RR",
                "not an amount",
            ),
            ({"fee_schedule": {"OXYGEN": "1"}}, "rules.claims.fee_schedule.OXYGEN", "HCPCS"),
            (
                {"fee_schedule": {"E0260-ZZ": "1"}},
                "rules.claims.fee_schedule.E0260-ZZ",
                "not a known modifier",
            ),
        ],
    )
    def test_a_bad_setting_is_refused_naming_the_field_and_rule(
        self, settings: dict[str, Any], field: str, words: str
    ) -> None:
        with pytest.raises(rules.ClaimContractError, match=words) as caught:
            rules.claim_rules(settings)
        assert caught.value.field == field
        assert caught.value.errors[0].field == field
        assert field in caught.value.detail


class TestCoordinatorIdentity:
    def test_the_defaults_are_the_demo_figures(self) -> None:
        identity = rules.coordinator_identity(Settings().coordinator_billing())
        assert identity == rules.DEFAULT_COORDINATOR
        assert identity.npi == "1234567893"

    def test_the_identity_comes_from_the_settings(self) -> None:
        settings = Settings(
            billing_name="Harbor Care Coordination",
            billing_npi="1245319599",
            billing_tax_id="987654321",
            billing_submitter_id="HARBOR01",
            billing_phone="4015550123",
        )
        identity = rules.coordinator_identity(settings.coordinator_billing())
        assert identity.name == "HARBOR CARE COORDINATION"
        assert (identity.npi, identity.tax_id) == ("1245319599", "987654321")
        assert (identity.submitter_id, identity.phone) == ("HARBOR01", "4015550123")

    @pytest.mark.parametrize(
        ("values", "setting", "words"),
        [
            ({"billing_npi": "1234567890"}, "CARELOOP_BILLING_NPI", "check digit"),
            ({"billing_npi": "12345"}, "CARELOOP_BILLING_NPI", "10 digits"),
            ({"billing_tax_id": "12-3456789"}, "CARELOOP_BILLING_TAX_ID", "9 digits"),
            ({"billing_taxonomy": "doctor"}, "CARELOOP_BILLING_TAXONOMY", "NUCC"),
            ({"billing_state": "Mass"}, "CARELOOP_BILLING_STATE", "two-letter"),
            ({"billing_zip": "0211"}, "CARELOOP_BILLING_ZIP", "ZIP code"),
            ({"billing_phone": "555-0100"}, "CARELOOP_BILLING_PHONE", "10 digits"),
        ],
    )
    def test_a_bad_identity_refuses_to_start_naming_the_setting(
        self, values: dict[str, str], setting: str, words: str
    ) -> None:
        settings = Settings(**values)  # type: ignore[arg-type]
        with pytest.raises(rules.ClaimContractError, match=words) as caught:
            rules.coordinator_identity(settings.coordinator_billing())
        assert caught.value.field == setting
        with pytest.raises(ValueError, match=setting):
            check_configuration(settings)


def test_a_payers_overrides_are_checked_for_their_claims_contract() -> None:
    service.check_contract({"intake": {}, "claims": {"filing_days": 120}})
    service.check_contract(None)
    with pytest.raises(rules.ClaimContractError, match=r"rules\.claims\.filing_days"):
        service.check_contract({"claims": {"filing_days": 365}})
    with pytest.raises(rules.ClaimContractError, match="an object of claim settings"):
        service.check_contract({"claims": ["billed_by"]})
