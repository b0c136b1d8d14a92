"""GET /fhir/{type}/{id}: one resource of a case, built from the case on read; what the
caller may not see is 'not found', exactly like what does not exist."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.fhir import resources
from careloop.fhir.outcome import FhirError, Issue
from careloop.referral import views as referral_views

_ID = re.compile(r"\A[A-Za-z0-9\-.]{1,64}\Z")
_CASE_LEVEL = frozenset({"Task", "Patient", "Coverage", "Practitioner"})


def not_found(kind: str, ident: str) -> FhirError:
    return FhirError(
        404, [Issue("error", "not-found", f"There is no {kind} {ident[:64]} that you can see.")]
    )


def case_number_of(kind: str, ident: str) -> str | None:
    """The case a resource id belongs to: the id itself for the case-level resources,
    the id less its ``-<n>`` suffix for diagnoses and items."""
    if kind not in resources.READABLE or not _ID.match(ident):
        return None
    if kind in _CASE_LEVEL:
        return ident
    case, sep, number = ident.rpartition("-")
    return case if sep and number.isdigit() else None


def read_resource(
    session: Session, actor: Actor, kind: str, ident: str, *, clock: Clock
) -> dict[str, Any]:
    """The resource, read through the referral domain (scoped and audited)."""
    case_number = case_number_of(kind, ident)
    if case_number is None:
        raise not_found(kind, ident)
    view = referral_views.view_referral(session, actor, case_number, clock=clock)
    resource = resources.read_resource(view, kind, ident)
    if resource is None:
        raise not_found(kind, ident)
    return resource
