"""SLA: deadline rules and business calendars (DOMAIN.md §4, DESIGN.md §3)."""

from careloop.sla.rules import (
    DEFAULT_SLA_POLICY,
    BusinessCalendar,
    BusinessHours,
    CalendarKind,
    DeadlineRule,
    ServiceClass,
    SlaPolicy,
    business_calendar,
    compute_due,
    discharge_escalation,
    extend_for_pause,
    format_duration,
    remaining,
    service_deadline,
)

__all__ = [
    "DEFAULT_SLA_POLICY",
    "BusinessCalendar",
    "BusinessHours",
    "CalendarKind",
    "DeadlineRule",
    "ServiceClass",
    "SlaPolicy",
    "business_calendar",
    "compute_due",
    "discharge_escalation",
    "extend_for_pause",
    "format_duration",
    "remaining",
    "service_deadline",
]
