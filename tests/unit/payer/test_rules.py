"""Payer rule overrides: validated, with DOMAIN.md defaults."""

from __future__ import annotations

from datetime import timedelta

import pytest

from careloop.payer.rules import DEFAULT_PAYER_RULES, PayerRules
from careloop.sla import ServiceClass


def test_defaults_are_the_figures_of_the_domain() -> None:
    rules = DEFAULT_PAYER_RULES
    assert rules.intake.duplicate_window == timedelta(hours=72)
    assert rules.intake.member_max_age_years == 120
    assert rules.sla.service_start[ServiceClass.standard_dme].duration == timedelta(hours=72)
    assert rules.sla.service_start[ServiceClass.complex_dme].duration == timedelta(days=14)


def test_overrides_apply_when_payer_sets_its_own_figures() -> None:
    rules = PayerRules.from_config(
        {
            "intake": {"signed_order_max_age_days": 30},
            "sla": {"service_start": {"complex_dme": {"days": 10}}},
        }
    )
    assert rules.intake.signed_order_max_age == timedelta(days=30)
    assert rules.sla.service_start[ServiceClass.complex_dme].duration == timedelta(days=10)
    assert "payer configuration" in rules.sla.service_start[ServiceClass.complex_dme].source


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"intake": {"signed_order_max_age_days": 0}}, "signed_order_max_age_days"),
        ({"intake": {"nope": 1}}, "nope"),
        ({"billing": {}}, "billing"),
        ({"sla": {"service_start": {"wheelchair": {"days": 3}}}}, "wheelchair"),
    ],
)
def test_refused_naming_the_key_when_override_is_wrong(
    config: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PayerRules.from_config(config)
