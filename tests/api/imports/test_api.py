"""The import API: a file in, 202 with a job, progress and counts as the worker runs it,
the error file; only intake may import, and another organisation's job is not found."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.imports import tasks
from tests.api.conftest import Tokens
from tests.factories.identity import make_user
from tests.factories.referral import referral_payload

H = Tokens.header


def ndjson(clock: FixedClock) -> bytes:
    rows = [
        referral_payload(clock.now(), external_id="ORD-1", channel=...),
        referral_payload(
            clock.now(), external_id="ORD-2", channel=..., member__birth_date="1945-02-30"
        ),
        referral_payload(clock.now(), external_id="ORD-3", channel=..., member__last_name="Okafor"),
    ]
    return "\n".join(json.dumps(row) for row in rows).encode()


def upload(client: TestClient, token: str, content: bytes, name: str = "daily.ndjson") -> Response:
    return client.post(
        "/api/v1/imports", headers=H(token), files={"file": (name, content, "text/plain")}
    )


class TestImportJob:
    def test_answers_202_then_reports_progress_counts_and_the_error_file(
        self, client: TestClient, tokens: Tokens, database: Database, clock: FixedClock
    ) -> None:
        response = client.post(
            "/api/v1/imports",
            headers=H(tokens.intake),
            files={"file": ("daily.ndjson", ndjson(clock), "application/x-ndjson")},
        )
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["status"] == "queued" and job["percent_done"] == 0
        assert response.headers["Location"] == job["links"]["self"]
        assert job["lines_total"] == 3

        assert tasks.run_pending(database, clock=clock) == 1
        done = client.get(job["links"]["self"], headers=H(tokens.intake)).json()
        assert done["status"] == "done" and done["percent_done"] == 100
        assert (done["created"], done["refused"], done["already_imported"]) == (2, 1, 0)

        errors = client.get(job["links"]["errors"], headers=H(tokens.intake))
        assert errors.status_code == 200
        assert errors.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(errors.text)))
        assert rows[0] == ["line", "field", "rule", "message"]
        assert rows[1][:3] == ["2", "member.birth_date", "date"]

        cases = client.get(
            "/api/v1/referrals", params={"external_id": "ORD-3"}, headers=H(tokens.intake)
        ).json()
        assert cases["total"] == 1 and cases["items"][0]["channel"] == "batch"

    def test_a_second_upload_of_the_same_file_creates_nothing(
        self, client: TestClient, tokens: Tokens, database: Database, clock: FixedClock
    ) -> None:
        upload(client, tokens.intake, ndjson(clock))
        second = upload(client, tokens.case_manager, ndjson(clock))
        tasks.run_pending(database, clock=clock)
        done = client.get(second.json()["links"]["self"], headers=H(tokens.intake)).json()
        assert (done["created"], done["already_imported"], done["refused"]) == (0, 2, 1)

    def test_refuses_a_file_that_is_neither_csv_nor_ndjson(
        self, client: TestClient, tokens: Tokens
    ) -> None:
        response = upload(client, tokens.intake, b"%PDF-1.7", name="order.pdf")
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "file"


class TestWhoMayImport:
    def test_referrers_providers_and_members_are_refused_before_the_file_is_read(
        self, client: TestClient, tokens: Tokens
    ) -> None:
        for token in (tokens.hartford, tokens.provider, tokens.member, tokens.admin):
            response = upload(client, token, b"not even a file", name="x.bin")
            assert response.status_code == 403, response.text

    def test_another_organisations_job_answers_404_like_a_missing_one(
        self,
        client: TestClient,
        tokens: Tokens,
        session: Session,
        clock: FixedClock,
    ) -> None:
        _, elsewhere = make_user(
            session, clock=clock, role=Role.intake_agent, organization="Elsewhere Care"
        )
        session.flush()
        job = upload(client, tokens.intake, ndjson(clock)).json()
        for path in (job["links"]["self"], job["links"]["errors"]):
            hidden = client.get(path, headers=H(elsewhere))
            missing = client.get("/api/v1/imports/999999", headers=H(elsewhere))
            assert hidden.status_code == missing.status_code == 404
            assert hidden.json()["code"] == missing.json()["code"] == "import_not_found"
        assert client.get(job["links"]["self"], headers=H(tokens.case_manager)).status_code == 200
