"""The figures a payer may set, with the defaults of DOMAIN.md.

A payer's ``rules`` JSON overrides any of them::

    {"sla": {...see sla.SlaPolicy.with_overrides...},
     "intake": {"signed_order_max_age_days": 60, "duplicate_window_hours": 48}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from careloop.sla import DEFAULT_SLA_POLICY, SlaPolicy


@dataclass(frozen=True, slots=True)
class IntakeRules:
    """Checklist figures for intake (DOMAIN.md §3)."""

    # A signed order older than this cannot start service. DOMAIN.md gives no figure;
    # 90 days is the project default, and payers set their own.
    signed_order_max_age: timedelta = timedelta(days=90)
    # Same member, item and ordering NPI within this window looks like a duplicate
    # (intake foundation issue: 72 hours).
    duplicate_window: timedelta = timedelta(hours=72)
    # A birth date more than this many years ago is a typing error (intake issue: 120).
    member_max_age_years: int = 120

    def with_overrides(self, data: Mapping[str, Any]) -> IntakeRules:
        known = {"signed_order_max_age_days", "duplicate_window_hours", "member_max_age_years"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"intake: unknown setting(s) {', '.join(sorted(unknown))}")
        result = self
        if "signed_order_max_age_days" in data:
            result = replace(
                result,
                signed_order_max_age=timedelta(
                    days=_positive_int(data, "signed_order_max_age_days")
                ),
            )
        if "duplicate_window_hours" in data:
            result = replace(
                result,
                duplicate_window=timedelta(hours=_positive_int(data, "duplicate_window_hours")),
            )
        if "member_max_age_years" in data:
            result = replace(
                result, member_max_age_years=_positive_int(data, "member_max_age_years")
            )
        return result


def _positive_int(data: Mapping[str, Any], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"intake.{key}: must be a positive whole number")
    return value


@dataclass(frozen=True, slots=True)
class PayerRules:
    sla: SlaPolicy = DEFAULT_SLA_POLICY
    intake: IntakeRules = field(default_factory=IntakeRules)

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> PayerRules:
        """Build the effective rules from a payer's JSON overrides (validated)."""
        data = data or {}
        unknown = set(data) - {"sla", "intake"}
        if unknown:
            raise ValueError(f"unknown rule group(s) {', '.join(sorted(unknown))}")
        sla = DEFAULT_SLA_POLICY.with_overrides(data.get("sla") or {})
        intake = IntakeRules().with_overrides(data.get("intake") or {})
        return cls(sla=sla, intake=intake)


DEFAULT_PAYER_RULES = PayerRules()
