"""The documents panel of the case page, for the actor reading it: the case's documents
in plain words (what, its form and pages, who attached it and when, any warning) with a
download link each, and the form to attach one for whoever may."""

from __future__ import annotations

from typing import Any

from careloop.document import KIND_LABELS, PICKABLE_KINDS, Kind, MediaType
from careloop.document import service as document_service
from careloop.document.rules import MEDIA_LABELS
from careloop.identity.permissions import may
from careloop.portal.web import PageContext
from careloop.referral.schemas import ReferralRead

ORDER_FINDINGS = document_service.ORDER_FINDINGS


def panel_values(ctx: PageContext, case: ReferralRead) -> dict[str, Any]:
    """What the case page shows and offers about documents, for this actor."""
    if not may(ctx.actor, "document:read"):
        return {"documents": [], "attach": None}
    listed = document_service.list_documents(
        ctx.session, ctx.actor, case.case_number, clock=ctx.clock
    ).items
    rows = [
        {
            "read": d,
            "what": d.kind_label,
            "form": _form_words(d.media_type, d.pages),
        }
        for d in listed
    ]
    attach = None
    if may(ctx.actor, "document:upload"):
        waiting = any(f.code in ORDER_FINDINGS for f in case.findings) and may(
            ctx.actor, "referral:clarify"
        )
        attach = {
            "kinds": [slug(k) for k in PICKABLE_KINDS],
            "labels": {slug(k): KIND_LABELS[k] for k in PICKABLE_KINDS},
            "order": slug(Kind.signed_order),
            "order_waiting": waiting,
        }
    return {"documents": rows, "attach": attach}


def slug(kind: Kind) -> str:
    """A kind as the form sends it (words joined by hyphens, like the page's URLs)."""
    return kind.value.replace("_", "-")


def _form_words(media: MediaType, pages: int) -> str:
    noun = "page" if pages == 1 else "pages"
    label = MEDIA_LABELS[media]
    return f"{label[0].upper()}{label[1:]}, {pages} {noun}"
