"""Escalations: a case handed to a named supervisor who commits an ETA (DOMAIN.md §4, §6)."""

from careloop.escalation.rules import (
    PARTY_LABELS,
    REASON_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    PartyKind,
    Promise,
    Reason,
    Severity,
    Status,
)
from careloop.escalation.schemas import (
    CommitIn,
    EscalationCreate,
    EscalationList,
    EscalationRead,
    RequesterIn,
    ResolveIn,
)

__all__ = [
    "PARTY_LABELS",
    "REASON_LABELS",
    "SEVERITY_LABELS",
    "STATUS_LABELS",
    "CommitIn",
    "EscalationCreate",
    "EscalationList",
    "EscalationRead",
    "PartyKind",
    "Promise",
    "Reason",
    "RequesterIn",
    "ResolveIn",
    "Severity",
    "Status",
]
