"""Member accounts and their cases: a member reads only the cases staff linked to their
account (``member_links``), never a case matched by name or birth date."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.identity import service as identity_service
from careloop.identity.permissions import require
from careloop.referral import moves, repository
from careloop.referral.models import MemberLink
from careloop.referral.schemas import MemberLinkRead


def link_member_account(
    session: Session, actor: Actor, case_number: str, email: str, *, clock: Clock
) -> MemberLinkRead:
    """Let a member's account read one case: its status page, the case and its timeline.
    Made by staff (or the operator at the command line, the system actor) once they know
    the account is the member's; it is the member's only way to a case. Linking the same
    account again changes nothing."""
    if not (actor.role is Role.service and actor.user_id is None):
        require(actor, "referral:link_member")
    now = clock.now()
    referral = moves.visible_for_update(
        session, actor, case_number, "referral.link_member", clock=clock
    )
    user_id = identity_service.member_account_id(session, email)
    link = repository.member_link(session, user_id, referral.id)
    created = link is None
    if link is None:
        link = MemberLink(
            user_id=user_id, referral_id=referral.id, linked_at=now, linked_by_user_id=actor.user_id
        )
        session.add(link)
        session.flush()
        moves.event(session, actor, referral, "referral.member_linked", now=now)
    audit.record(
        session,
        actor,
        "referral.link_member",
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
        detail={"member_user_id": user_id, "created": created},
    )
    return MemberLinkRead(
        case_number=referral.case_number,
        email=email.strip().lower(),
        linked_at=link.linked_at,
        created=created,
    )
