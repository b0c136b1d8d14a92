"""RELIABILITY.md row 31: what ``/fhir`` emits is structurally valid R4, by two
validators: the ``fhir.resources`` R4B models (each document's whole model, not the
intake's shape cache) and FHIR.js (the npm package ``fhir`` with its R4 definitions,
run by Node.js). The corpus, over 500 documents: the transaction answers for cases whose
members are named in many scripts (Hypothesis), a read of every resource each created,
Tasks in several statuses, searchsets with their includes, the CapabilityStatement and
the OperationOutcomes of refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.referral import service as referral_service
from careloop.referral.schemas import AcknowledgeIn
from tests.api.conftest import Tokens
from tests.api.fhir.conftest import get, post_bundle, task_of
from tests.factories.fhir import referral_bundle
from tests.factories.identity import make_user
from tests.factories.names import names

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = Path(__file__).parent / "fhir" / "fhirjs_validate.js"
CASES = 60


def _fhirjs_errors(documents: list[dict[str, Any]], tmp: Path) -> list[tuple[int, list[str]]]:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "fhir").is_dir():
        pytest.fail("FHIR.js is not installed: run `make assets` (npm ci from package-lock.json)")
    corpus = tmp / "corpus.ndjson"
    corpus.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in documents))
    done = subprocess.run(  # noqa: S603 - node and the tests' own script
        [node, str(VALIDATOR), str(corpus)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(documents)
    return [(r["line"], r["errors"]) for r in results if r["errors"]]


@settings(
    max_examples=1,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(members=st.lists(st.tuples(names, names), min_size=CASES, max_size=CASES))
def test_every_document_emitted_is_valid_r4_to_both_validators(
    client: TestClient,
    session: Session,
    tokens: Tokens,
    clock: FixedClock,
    tmp_path: Path,
    members: list[tuple[str, str]],
) -> None:
    documents: list[dict[str, Any]] = []

    def keep(answer: Any, status: int = 200) -> dict[str, Any]:
        assert answer.status_code == status, answer.text
        document: dict[str, Any] = answer.json()
        documents.append(document)
        return document

    staff, _ = make_user(session, clock=clock, role=Role.intake_agent, email="corpus@hub.test")
    cases = []
    for index, (first, last) in enumerate(members):
        bundle = referral_bundle(
            clock.now(), order_id=f"CORPUS-{index}", first_name=first, last_name=last
        )
        answer = post_bundle(client, tokens.hartford, bundle)
        task_of(answer)
        response = keep(answer)
        n = response["entry"][-1]["resource"]["id"]
        cases.append(n)
        if index % 3 == 0:  # a Task further along: in progress, with its owner and note
            referral_service.acknowledge_referral(session, staff, n, AcknowledgeIn(), clock=clock)
        for entry in response["entry"]:
            if "location" in entry["response"]:
                keep(get(client, tokens.hartford, entry["response"]["location"]))
    for page in range(0, CASES, 20):
        keep(get(client, tokens.hartford, "Task", _include="*", _count=20, _offset=page))
    keep(get(client, tokens.hartford, "Task", patient=f"Patient/{cases[0]}", status="received"))
    keep(client.get("/fhir/metadata"))
    bad = referral_bundle(clock.now(), order_id="CORPUS-BAD", npi="1234567890")
    keep(post_bundle(client, tokens.hartford, bad), status=422)
    keep(get(client, tokens.albany, f"Task/{cases[0]}"), status=404)
    keep(get(client, tokens.hartford, "Task", _lastUpdated="gx2026"), status=400)

    assert len(documents) > 500
    for document in documents:  # raises, naming the field, for anything not R4
        get_fhir_model_class(document["resourceType"]).model_validate(document)
    assert _fhirjs_errors(documents, tmp_path) == []
