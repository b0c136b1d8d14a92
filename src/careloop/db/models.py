"""Every table, imported in one place so Alembic and tests see the whole schema."""

from __future__ import annotations

from careloop.adt import models as adt_models
from careloop.appeal import models as appeal_models
from careloop.audit import models as audit_models
from careloop.claim import models as claim_models
from careloop.clearinghouse import models as clearinghouse_models
from careloop.db import outbox as outbox_models
from careloop.db.base import Base
from careloop.document import models as document_models
from careloop.eligibility import models as eligibility_models
from careloop.escalation import models as escalation_models
from careloop.grievance import models as grievance_models
from careloop.identity import models as identity_models
from careloop.imports import models as imports_models
from careloop.interaction import models as interaction_models
from careloop.matching import models as matching_models
from careloop.network import models as network_models
from careloop.notification import models as notification_models
from careloop.payer import models as payer_models
from careloop.prior_auth import models as prior_auth_models
from careloop.referral import models as referral_models
from careloop.report import models as report_models
from careloop.scheduling import models as scheduling_models
from careloop.sla import models as sla_models
from careloop.webhook import models as webhook_models
from careloop.workqueue import models as workqueue_models

__all__ = [
    "Base",
    "adt_models",
    "appeal_models",
    "audit_models",
    "claim_models",
    "clearinghouse_models",
    "document_models",
    "eligibility_models",
    "escalation_models",
    "grievance_models",
    "identity_models",
    "imports_models",
    "interaction_models",
    "matching_models",
    "network_models",
    "notification_models",
    "outbox_models",
    "payer_models",
    "prior_auth_models",
    "referral_models",
    "report_models",
    "scheduling_models",
    "sla_models",
    "webhook_models",
    "workqueue_models",
]
