"""The figures a payer may set, with the defaults of DOMAIN.md.

A payer's ``rules`` JSON overrides any of them::

    {"sla": {...see sla.SlaPolicy.with_overrides...},
     "intake": {"signed_order_max_age_days": 60, "duplicate_window_hours": 48,
                "denials_checked": ["not_medically_necessary"]},
     "authorization": {"expedited_decision_hours": 72, "standard_decision_days": 7,
                       "appeal_window_days": 45, "expiry_warning_days": 14,
                       "units_warning_share": 0.2}}
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
    # Denial reasons this payer gives often enough that intake checks for them at the
    # source (appeal/rules.py PREVENTING_CHECK names each reason's check): none by default.
    denials_checked: frozenset[str] = frozenset()

    def with_overrides(self, data: Mapping[str, Any]) -> IntakeRules:
        known = {
            "signed_order_max_age_days",
            "duplicate_window_hours",
            "member_max_age_years",
            "denials_checked",
        }
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
        if "denials_checked" in data:
            reasons = data["denials_checked"]
            if not isinstance(reasons, list) or not all(
                isinstance(r, str) and r in CHECKABLE_DENIALS for r in reasons
            ):
                raise ValueError(
                    "intake.denials_checked: a list of denial reasons among "
                    + ", ".join(sorted(CHECKABLE_DENIALS))
                )
            result = replace(result, denials_checked=frozenset(reasons))
        return result


#: Denial reasons an intake check can catch at the source when a payer turns it on (the
#: codes of prior_auth's DenialReason; the check itself is in referral/rules.py).
CHECKABLE_DENIALS = frozenset({"not_medically_necessary"})


def _positive_int(data: Mapping[str, Any], key: str, *, group: str = "intake") -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{group}.{key}: must be a positive whole number")
    return value


@dataclass(frozen=True, slots=True)
class AuthorizationRules:
    """Prior authorisation figures (DOMAIN.md §2 step 5, §4, §6; issue 4)."""

    # The payer decides an expedited request within 72 hours and a standard one within
    # 7 days, on the clock (24 x 7), unless its contract says otherwise (issue 4 defaults).
    expedited_decision: timedelta = timedelta(hours=72)
    standard_decision: timedelta = timedelta(days=7)
    # The appeal window after a denial: payer-specific, commonly 30-45 days (DOMAIN.md §4);
    # the default is the shorter, so nobody is told a date the payer will not honour.
    appeal_window: timedelta = timedelta(days=30)
    # An authorisation is flagged this long before it ends (project default) ...
    expiry_warning: timedelta = timedelta(days=14)
    # ... or when no more than this share of its approved units is left.
    units_warning_share: float = 0.2

    def with_overrides(self, data: Mapping[str, Any]) -> AuthorizationRules:
        fields = {
            "expedited_decision_hours": ("expedited_decision", "hours"),
            "standard_decision_days": ("standard_decision", "days"),
            "appeal_window_days": ("appeal_window", "days"),
            "expiry_warning_days": ("expiry_warning", "days"),
        }
        unknown = set(data) - set(fields) - {"units_warning_share"}
        if unknown:
            raise ValueError(f"authorization: unknown setting(s) {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {}
        for key, (name, unit) in fields.items():
            if key in data:
                amount = _positive_int(data, key, group="authorization")
                changes[name] = timedelta(**{unit: amount})
        if "units_warning_share" in data:
            share = data["units_warning_share"]
            if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share < 1:
                raise ValueError("authorization.units_warning_share: must be between 0 and 1")
            changes["units_warning_share"] = float(share)
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class PayerRules:
    sla: SlaPolicy = DEFAULT_SLA_POLICY
    intake: IntakeRules = field(default_factory=IntakeRules)
    authorization: AuthorizationRules = field(default_factory=AuthorizationRules)
    # The appeal ladder and the grievance windows, read (and validated) by the appeal and
    # grievance domains' rules, which sit above this one.
    appeal: Mapping[str, Any] = field(default_factory=dict)
    grievance: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> PayerRules:
        """Build the effective rules from a payer's JSON overrides (validated)."""
        data = data or {}
        unknown = set(data) - {"sla", "intake", "authorization", "appeal", "grievance", "claims"}
        if unknown:
            raise ValueError(f"unknown rule group(s) {', '.join(sorted(unknown))}")
        sla = DEFAULT_SLA_POLICY.with_overrides(data.get("sla") or {})
        intake = IntakeRules().with_overrides(data.get("intake") or {})
        authorization = AuthorizationRules().with_overrides(data.get("authorization") or {})
        appeal, grievance = data.get("appeal") or {}, data.get("grievance") or {}
        if not isinstance(appeal, Mapping) or not isinstance(grievance, Mapping):
            raise ValueError("appeal and grievance: objects of settings")
        return cls(
            sla=sla,
            intake=intake,
            authorization=authorization,
            appeal=dict(appeal),
            grievance=dict(grievance),
        )


DEFAULT_PAYER_RULES = PayerRules()
