"""End to end with the clients an integrator would use, against a real uvicorn server on
a free 127.0.0.1 port over the database under test: ``fhirclient`` (SMART on FHIR's
Python client) and ``fhirpy``, each posting a referral bundle and reading the Task back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.bundle import Bundle as R4BBundle
from fhir.resources.R4B.task import Task as R4BTask
from fhirclient import client as smart_client
from fhirclient.models.bundle import Bundle as SmartBundle
from fhirclient.models.task import Task as SmartTask
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from tests.factories.fhir import ORDER_SYSTEM, referral_bundle
from tests.factories.identity import make_user
from tests.factories.referral import make_payer
from tests.live_server import live_server


@dataclass(frozen=True)
class Server:
    fhir_url: str
    hartford: str
    albany: str


@pytest.fixture
def server(committed_database: Database, database_url: str) -> Iterator[Server]:
    clock = FixedClock(datetime.now(UTC))
    with committed_database.unit_of_work() as session:
        make_payer(session, clock=clock)
        _, hartford = make_user(
            session, clock=clock, role=Role.referring_clinician, organization="Hartford General"
        )
        _, albany = make_user(
            session, clock=clock, role=Role.referring_clinician, organization="Albany Riverside"
        )
    env = {
        **os.environ,
        "CARELOOP_DATABASE_URL": database_url,
        "CARELOOP_ENVIRONMENT": "test",
        "CARELOOP_LOG_LEVEL": "WARNING",
    }
    with live_server(env) as base_url:
        yield Server(f"{base_url}/fhir", hartford, albany)


def test_fhirclient_posts_a_bundle_and_reads_the_task_back(server: Server) -> None:
    smart = smart_client.FHIRClient(
        settings={"app_id": "careloop-tests", "api_base": f"{server.fhir_url}/"}
    )
    smart.server.session.headers["Authorization"] = f"Bearer {server.hartford}"
    capability = smart.server.request_json("metadata")
    assert capability["fhirVersion"] == "4.0.1"
    # The bundle goes through fhirclient's own R4 models first, as an integrator's would.
    bundle = SmartBundle(referral_bundle(datetime.now(UTC), order_id="SMART-1"))
    answer = SmartBundle(smart.server.post_json("", bundle.as_json()).json())
    assert answer.type == "transaction-response"
    task_entry = answer.entry[-1]
    assert task_entry.response.location.startswith("Task/CL-")
    task = SmartTask.read(task_entry.response.location.removeprefix("Task/"), smart.server)
    assert task.status == "received"
    assert task.businessStatus.coding[0].code == "received"
    assert task.for_fhir.reference == f"Patient/{task.id}"
    R4BTask.model_validate(task.as_json())
    search = SmartTask.where({"identifier": f"{ORDER_SYSTEM}|SMART-1"})
    assert [t.id for t in search.perform_resources_iter(smart.server)] == [task.id]


def test_fhirpy_posts_a_bundle_and_reads_the_task_back(server: Server) -> None:
    fhir = SyncFHIRClient(server.fhir_url, authorization=f"Bearer {server.hartford}")
    bundle = referral_bundle(datetime.now(UTC), order_id="FHIRPY-1", conditional=True)
    answer = fhir.execute("", method="post", data=bundle)
    R4BBundle.model_validate(answer)
    location = answer["entry"][-1]["response"]["location"]
    task = fhir.reference(reference=location).to_resource()
    assert task["status"] == "received"
    assert task["restriction"]["period"]["end"]
    again = fhir.execute("", method="post", data=bundle)
    assert again["entry"][-1]["response"]["location"] == location
    tasks = fhir.resources("Task").search(identifier="FHIRPY-1").fetch_all()
    assert [t["id"] for t in tasks] == [task["id"]]
    patient = fhir.reference(reference=task["for"]["reference"]).to_resource()
    assert patient["name"][0]["family"] == "Hale"
    # Another organisation's client does not see it, not even in a count.
    albany = SyncFHIRClient(server.fhir_url, authorization=f"Bearer {server.albany}")
    assert albany.resources("Task").count() == 0
    with pytest.raises(ResourceNotFound):
        albany.reference(reference=location).to_resource()
