"""Helpers for the FHIR API tests: post a bundle, read a resource, validate what comes
back against the fhir.resources R4B models, count what is stored."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.referral.models import IdempotencyKey, Referral, ReferralEvent, ReferralItem
from careloop.sla.models import Clock
from tests.api.conftest import Tokens, on_both_token_paths

settings = on_both_token_paths()  # every test with the token checked, and cached

FHIR_JSON = "application/fhir+json"


def post_bundle(
    client: TestClient,
    token: str,
    bundle: Any,
    *,
    content_type: str = FHIR_JSON,
    url: str = "/fhir",
) -> Response:
    content = bundle if isinstance(bundle, (bytes, str)) else json.dumps(bundle)
    headers = {"content-type": content_type, **Tokens.header(token)}
    return client.post(url, content=content, headers=headers)


def get(client: TestClient, token: str, path: str, **params: Any) -> Response:
    return client.get(f"/fhir/{path}", headers=Tokens.header(token), params=params)


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, after its R4B model has accepted it (raises otherwise); bundles are
    validated with every resource inside them."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def task_of(response: Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    entry: dict[str, Any] = response.json()["entry"][-1]
    assert entry["resource"]["resourceType"] == "Task"
    return entry


def expressions(response: Response) -> set[str]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return {e for issue in body["issue"] for e in issue.get("expression", [])}


def stored(session: Session) -> dict[str, int]:
    """How many rows the tables an intake writes hold."""
    counts = {
        model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
        for model in (Referral, ReferralItem, ReferralEvent, Clock, IdempotencyKey)
    }
    # A refused Bundle leaves one record by design: the refusal, counted in the daily
    # referral import (referral.refusals); nothing else.
    counts["audit_records"] = int(
        session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.action != "intake.refused")
        )
        or 0
    )
    return counts
