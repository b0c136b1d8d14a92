"""A resource's version follows its case (FHIR R4 Meta.versionId, read's ETag and
Last-Modified): the same in the transaction's answer and the first read, another once
the case has moved, so a client comparing versions sees the Task change."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parsedate_to_datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.referral import service as referral_service
from careloop.referral.schemas import AcknowledgeIn
from tests.api.conftest import Tokens
from tests.api.fhir.conftest import get, post_bundle, task_of, valid
from tests.factories.fhir import referral_bundle
from tests.factories.identity import make_user


def test_the_version_changes_when_the_case_does_and_reads_carry_it(
    client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
) -> None:
    answer = post_bundle(client, tokens.hartford, referral_bundle(clock.now()))
    entry = task_of(answer)
    n = entry["resource"]["id"]
    created = entry["resource"]["meta"]["versionId"]
    assert {
        e["response"]["etag"] for e in answer.json()["entry"] if "location" in e["response"]
    } == {f'W/"{created}"'}
    for path in (f"Task/{n}", f"Patient/{n}", f"Condition/{n}-1", f"ServiceRequest/{n}-1"):
        read = get(client, tokens.hartford, path)
        assert valid(read.json())["meta"]["versionId"] == created, path
        assert read.headers["etag"] == f'W/"{created}"', path
        assert parsedate_to_datetime(read.headers["last-modified"]) == clock.now().replace(
            microsecond=0
        )

    clock.advance(timedelta(minutes=5))
    staff, _ = make_user(session, clock=clock, role=Role.intake_agent, email="ack@hub.test")
    referral_service.acknowledge_referral(session, staff, n, AcknowledgeIn(), clock=clock)
    moved = get(client, tokens.hartford, f"Task/{n}")
    task = valid(moved.json())
    assert task["meta"]["versionId"] != created
    assert moved.headers["etag"] == f'W/"{task["meta"]["versionId"]}"'
    assert task["meta"]["lastUpdated"] > entry["resource"]["meta"]["lastUpdated"]
