"""A ranking with real commits (no outer test transaction), as the API serves it. On
PostgreSQL the case read's audit record is committed while the ranking is worded
(``db.raw.commit_meanwhile``), and the entry point's own commit then finds nothing to
do: each answer must be the same, name the network provider, and have its audit record
committed by the time it arrives. That the commit lands before the block ends, and that
a failed one raises, is checked in ``tests/integration/db/test_raw.py``."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from careloop.app import create_app
from careloop.audit.models import AuditRecord
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral import service as referral_service
from careloop.settings import Settings
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.factories.referral import make_payer, referral_draft

OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]


def _audited(database: Database) -> int:
    with database.unit_of_work() as session:
        matched = select(func.count()).select_from(AuditRecord)
        return session.scalar(matched.where(AuditRecord.action == "referral.match")) or 0


def test_a_ranking_answers_with_its_audit_record_committed(
    committed_database: Database, settings: Settings, clock: FixedClock
) -> None:
    with committed_database.unit_of_work() as session:
        make_payer(session, clock=clock)
        make_coverage(session, clock=clock)
        admin, _ = make_user(session, clock=clock, role=Role.supervisor)
        _, manager = make_user(session, clock=clock, role=Role.case_manager)
        intake, _ = make_user(session, clock=clock, role=Role.intake_agent)
        make_provider(session, clock=clock, admin=admin, name="Charter Oak Home Medical")
        draft = referral_draft(clock.now(), items=OXYGEN)
        number = referral_service.submit_referral(session, intake, draft, clock=clock).case_number
        make_ready(session, intake, number, clock=clock)
    app = create_app(settings, database=committed_database, clock=clock)
    url = f"/api/v1/referrals/{number}/candidates"
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {manager}"}
        first = client.get(url, headers=headers)
        assert first.status_code == 200, first.text
        assert _audited(committed_database) == 1
        second = client.get(url, headers=headers)
        assert second.status_code == 200, second.text
        assert _audited(committed_database) == 2
        missing = client.get("/api/v1/referrals/CL-2099-999999/candidates", headers=headers)
        assert missing.status_code == 404
    assert first.json() == second.json()
    assert [c["name"] for c in first.json()["ranked"]] == ["Charter Oak Home Medical"]
    assert _audited(committed_database) == 2
