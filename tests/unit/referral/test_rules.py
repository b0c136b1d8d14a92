"""Pure referral rules: the checklist, the deadlines and the status machine."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.core.errors import IllegalTransitionError
from careloop.payer.rules import DEFAULT_PAYER_RULES, PayerRules
from careloop.referral import rules
from careloop.referral.enums import CodeSystem, ReferralAction, ReferralStatus, Severity
from careloop.sla import ServiceClass
from tests.factories.names import mixed_names, names
from tests.factories.referral import referral_draft

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
KNOWN = rules.PayerFacts(named=True, found=True, name="NEHP", rules=DEFAULT_PAYER_RULES)


def codes_of(findings: list[rules.Finding]) -> dict[str, str]:
    return {f.code: f.field for f in findings}


def check(**overrides: Any) -> list[rules.Finding]:
    return rules.check_referral(referral_draft(NOW, **overrides), payer=KNOWN, now=NOW)


class TestCheckReferral:
    def test_no_findings_when_the_order_is_complete(self) -> None:
        assert check() == []

    def test_check_digit_finding_when_npi_is_wrong(self) -> None:
        found = codes_of(check(ordering_provider__npi="1234567890"))
        assert found == {"ordering_npi_invalid": "ordering_provider.npi"}

    def test_not_billable_finding_names_leaf_codes_when_diagnosis_is_a_category(self) -> None:
        findings = check(diagnoses=[{"code": "J44"}])
        assert [f.code for f in findings] == ["diagnosis_not_billable"]
        assert findings[0].field == "diagnoses.0.code"
        assert "J44.1" in findings[0].message

    @pytest.mark.parametrize("code", ["J441.", "496", "12345"])
    def test_malformed_or_unknown_finding_when_diagnosis_is_not_icd10cm(self, code: str) -> None:
        found = codes_of(check(diagnoses=[{"code": code}]))
        assert set(found) <= {"diagnosis_malformed", "diagnosis_unknown"} and found

    def test_unknown_finding_when_diagnosis_is_well_formed_but_absent(self) -> None:
        assert codes_of(check(diagnoses=[{"code": "Z99.99"}])) == {
            "diagnosis_unknown": "diagnoses.0.code"
        }

    @pytest.mark.parametrize(
        ("code", "system", "expected"),
        [
            ("E12345", "HCPCS", "hcpcs_malformed"),
            ("1390", "HCPCS", "hcpcs_malformed"),
            ("9950", "CPT", "cpt_malformed"),
            ("E9999", "HCPCS", "hcpcs_not_home_care"),
        ],
    )
    def test_item_finding_when_code_is_wrong(self, code: str, system: str, expected: str) -> None:
        items = [{"code": code, "code_system": system, "quantity": 1}]
        assert codes_of(check(items=items)) == {expected: "items.0.code"}

    def test_cpt_code_is_checked_for_form_only(self) -> None:
        items = [{"code": "99509", "code_system": "CPT", "quantity": 4}]
        assert check(items=items) == []

    def test_signed_order_finding_when_missing(self) -> None:
        assert codes_of(check(signed_order=...)) == {"signed_order_missing": "signed_order"}

    def test_signed_order_finding_when_older_than_payer_allows(self) -> None:
        payer = rules.PayerFacts(
            named=True,
            found=True,
            name="X",
            rules=PayerRules.from_config({"intake": {"signed_order_max_age_days": 30}}),
        )
        draft = referral_draft(NOW, signed_order__signed_on="2026-10-01")
        findings = rules.check_referral(draft, payer=payer, now=NOW)
        assert codes_of(findings) == {"signed_order_expired": "signed_order.signed_on"}
        assert "30 days" in findings[0].message
        # The same signature is fine under the default 90 days.
        assert rules.check_referral(draft, payer=KNOWN, now=NOW) == []

    def test_birth_date_finding_when_in_future(self) -> None:
        found = codes_of(check(member__birth_date="2027-01-01"))
        assert found == {"birth_date_in_future": "member.birth_date"}

    def test_birth_date_finding_when_over_120_years_ago(self) -> None:
        found = codes_of(check(member__birth_date="1900-01-01"))
        assert found == {"birth_date_implausible": "member.birth_date"}

    def test_discharge_finding_when_already_past(self) -> None:
        past = (NOW - timedelta(hours=1)).isoformat()
        assert codes_of(check(discharge_at=past)) == {"discharge_in_past": "discharge_at"}

    def test_zip_finding_when_zip_is_in_another_state(self) -> None:
        found = codes_of(check(member__address__state="NY"))
        assert found == {"address_zip_mismatch": "member.address.zip"}

    def test_payer_finding_when_unknown(self) -> None:
        unknown = rules.PayerFacts(named=True, found=False, name=None, rules=DEFAULT_PAYER_RULES)
        findings = rules.check_referral(referral_draft(NOW), payer=unknown, now=NOW)
        assert codes_of(findings) == {"payer_unknown": "coverage.payer_id"}

    def test_phone_finding_when_member_has_none(self) -> None:
        assert codes_of(check(member__phone=...)) == {"member_phone_missing": "member.phone"}

    def test_every_finding_names_a_field_and_a_plain_message(self) -> None:
        draft = referral_draft(
            NOW,
            member__phone=...,
            member__birth_date="2030-01-01",
            member__address=...,
            coverage=...,
            ordering_provider=...,
            signed_order=...,
            diagnoses=[],
        )
        unknown = rules.PayerFacts(named=False, found=False, name=None, rules=DEFAULT_PAYER_RULES)
        findings = rules.check_referral(draft, payer=unknown, now=NOW)
        assert len(findings) >= 8
        for finding in findings:
            assert finding.field and finding.message.endswith(".")
            assert finding.severity in (Severity.error, Severity.warning)


class TestDeadlines:
    def _deadlines(
        self,
        *,
        items: list[tuple[str, CodeSystem]],
        discharge: datetime | None,
        received: datetime = NOW,
    ) -> rules.Deadlines:
        return rules.compute_deadlines(
            rules=DEFAULT_PAYER_RULES,
            received_at=received,
            now=received,
            items=items,
            time_zone="America/New_York",
            discharge_at=discharge,
        )

    def test_ack_due_one_business_day_later_when_received_on_tuesday_morning(self) -> None:
        d = self._deadlines(items=[("E1390", CodeSystem.HCPCS)], discharge=None)
        assert d.ack_due_at == NOW + timedelta(days=1)

    def test_ack_skips_thanksgiving_when_received_the_day_before(self) -> None:
        wednesday_5pm = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
        d = self._deadlines(
            items=[("E1390", CodeSystem.HCPCS)], discharge=None, received=wednesday_5pm
        )
        # 1 h on Wednesday, Thursday is a federal holiday, 9 h on Friday.
        assert d.ack_due_at == datetime(2026, 11, 27, 22, 0, tzinfo=UTC)

    def test_service_due_in_72_hours_when_standard_dme(self) -> None:
        d = self._deadlines(items=[("E1390", CodeSystem.HCPCS)], discharge=None)
        assert d.service_class is ServiceClass.standard_dme
        assert d.service_due_at == NOW + timedelta(hours=72)

    def test_service_due_in_14_days_when_power_wheelchair(self) -> None:
        d = self._deadlines(
            items=[("K0856", CodeSystem.HCPCS), ("E1390", CodeSystem.HCPCS)], discharge=None
        )
        assert d.service_class is ServiceClass.complex_dme
        assert d.service_due_at == NOW + timedelta(days=14)

    def test_service_due_never_after_discharge(self) -> None:
        discharge = NOW + timedelta(hours=30)
        d = self._deadlines(items=[("E1390", CodeSystem.HCPCS)], discharge=discharge)
        assert d.service_due_at == discharge
        assert not d.escalated

    def test_escalated_with_reason_when_discharge_within_24_hours(self) -> None:
        d = self._deadlines(items=[("E1390", CodeSystem.HCPCS)], discharge=NOW + timedelta(hours=5))
        assert d.escalated
        assert d.escalation_reason and "discharge" in d.escalation_reason

    def test_home_health_class_when_only_visits(self) -> None:
        d = self._deadlines(
            items=[("G0299", CodeSystem.HCPCS), ("99509", CodeSystem.CPT)], discharge=None
        )
        assert d.service_class is ServiceClass.home_health

    def test_time_zone_from_zip_when_member_gives_none(self) -> None:
        assert rules.member_time_zone(None, "90012") == "America/Los_Angeles"
        assert rules.member_time_zone("America/Chicago", "90012") == "America/Chicago"
        assert rules.member_time_zone("Mars/Base", None) == rules.DEFAULT_TIME_ZONE


BORN = date(1945, 1, 23)


@st.composite
def respelled(draw: st.DrawFn, name: str) -> str:
    """The same name as another channel writes it: another case, accents, spaces,
    hyphens, apostrophes and dots anywhere, composed or decomposed."""
    cased = draw(st.sampled_from([name, name.upper(), name.lower(), name.title()]))
    out = []
    for c in cased:
        out.append(c)
        if draw(st.booleans()):
            out.append(draw(st.sampled_from([" ", "-", "'", ".", "\u0301", "\u0308", "\u00a0"])))
    form = draw(st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
    return unicodedata.normalize(form, "".join(out))


class TestDuplicateKey:
    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("O'Neil", "ONeil"),
            ("Zoë", "Zoe"),
            ("王 小明", "王小明"),
            ("José", "JOSE"),
            ("Anne-Marie", "anne marie"),
            ("Ｍａｒｉａ", "Maria"),  # fullwidth letters (NFKC)
            ("Σωκράτης", "ΣΩΚΡΑΤΗΣ"),
        ],
    )
    def test_same_person_when_spelling_differs_only_in_case_accents_and_spacing(
        self, a: str, b: str
    ) -> None:
        assert rules.fold_name(a) == rules.fold_name(b)
        assert rules.duplicate_key("X", a, BORN) == rules.duplicate_key("X", b, BORN)

    @pytest.mark.parametrize(
        ("a", "b"),
        [("Иванов", "Петров"), ("王小明", "李小明"), ("محمد", "أحمد"), ("Νίκος", "Γιώργος")],
    )
    def test_different_people_when_names_in_any_script_differ(self, a: str, b: str) -> None:
        assert rules.fold_name(a) and rules.fold_name(b)
        assert rules.duplicate_key("X", a, BORN) != rules.duplicate_key("X", b, BORN)

    def test_different_key_when_birth_date_differs(self) -> None:
        assert rules.duplicate_key("A", "B", date(1945, 1, 23)) != rules.duplicate_key(
            "A", "B", date(1945, 1, 24)
        )

    @settings(max_examples=300)
    @given(names, names, names, names)
    def test_two_names_share_a_key_only_when_they_fold_to_the_same_text(
        self, first_a: str, last_a: str, first_b: str, last_b: str
    ) -> None:
        same = (rules.fold_name(first_a), rules.fold_name(last_a)) == (
            rules.fold_name(first_b),
            rules.fold_name(last_b),
        )
        key_a = rules.duplicate_key(first_a, last_a, BORN)
        key_b = rules.duplicate_key(first_b, last_b, BORN)
        assert (key_a == key_b) is same

    @settings(max_examples=300)
    @given(mixed_names, mixed_names)
    def test_mixed_scripts_share_a_key_only_when_they_fold_alike(self, a: str, b: str) -> None:
        same = rules.fold_name(a) == rules.fold_name(b)
        assert (rules.duplicate_key(a, a, BORN) == rules.duplicate_key(b, b, BORN)) is same

    @settings(max_examples=300)
    @given(st.data(), names, names)
    def test_the_same_name_respelled_shares_the_key(
        self, data: st.DataObject, first: str, last: str
    ) -> None:
        again_first = data.draw(respelled(first))
        again_last = data.draw(respelled(last))
        assert rules.duplicate_key(again_first, again_last, BORN) == rules.duplicate_key(
            first, last, BORN
        )

    @given(names)
    def test_a_name_in_any_script_keeps_its_letters(self, name: str) -> None:
        # The old key stripped everything but a-z: a Chinese or Cyrillic name became "".
        assert rules.fold_name(name)
        assert rules.duplicate_key(name, name, BORN) != rules.duplicate_key("", "", BORN)


class TestStatusMachine:
    def test_acknowledged_when_received_case_is_acknowledged(self) -> None:
        assert (
            rules.next_status(
                ReferralStatus.received, ReferralAction.acknowledge, acknowledged=False
            )
            is ReferralStatus.acknowledged
        )

    def test_stays_in_clarification_when_incomplete_case_is_acknowledged(self) -> None:
        status = rules.next_status(
            ReferralStatus.needs_clarification, ReferralAction.acknowledge, acknowledged=False
        )
        assert status is ReferralStatus.needs_clarification

    def test_acknowledged_when_clarified_case_had_been_acknowledged(self) -> None:
        status = rules.next_status(
            ReferralStatus.needs_clarification,
            ReferralAction.supply_information,
            acknowledged=True,
            errors_remain=False,
        )
        assert status is ReferralStatus.acknowledged

    def test_refused_with_allowed_moves_when_cancelled_case_is_acknowledged(self) -> None:
        with pytest.raises(IllegalTransitionError) as caught:
            rules.next_status(
                ReferralStatus.cancelled, ReferralAction.acknowledge, acknowledged=False
            )
        assert caught.value.extra["allowed_actions"] == []
        assert caught.value.status == 409

    def test_refused_when_acknowledged_twice(self) -> None:
        with pytest.raises(IllegalTransitionError, match="already acknowledged"):
            rules.next_status(
                ReferralStatus.acknowledged, ReferralAction.acknowledge, acknowledged=True
            )

    @settings(max_examples=300, deadline=None)
    @given(
        steps=st.lists(
            st.tuples(st.sampled_from(list(ReferralAction)), st.booleans()), max_size=30
        ),
        start_with_errors=st.booleans(),
    )
    def test_no_illegal_state_is_reachable(
        self, steps: list[tuple[ReferralAction, bool]], start_with_errors: bool
    ) -> None:
        status = (
            ReferralStatus.needs_clarification if start_with_errors else ReferralStatus.received
        )
        acknowledged = False
        for action, errors_remain in steps:
            allowed = rules.allowed_actions(
                status, acknowledged=acknowledged, case_actions_only=False
            )
            if action not in allowed:
                with pytest.raises(IllegalTransitionError):
                    rules.next_status(
                        status, action, acknowledged=acknowledged, errors_remain=errors_remain
                    )
                continue
            status = rules.next_status(
                status, action, acknowledged=acknowledged, errors_remain=errors_remain
            )
            if action is ReferralAction.acknowledge:
                acknowledged = True
            # Invariants: a cancelled case allows nothing; an acknowledged status implies
            # the acknowledgement happened; clarification holds exactly when errors remain.
            if status is ReferralStatus.cancelled:
                assert rules.allowed_actions(status, acknowledged=acknowledged) == []
            if status is ReferralStatus.acknowledged:
                assert acknowledged
            if action is ReferralAction.supply_information:
                assert (status is ReferralStatus.needs_clarification) == errors_remain


def test_discharge_watch_is_now_when_the_discharge_is_at_the_start_of_the_calendar() -> None:
    ancient = datetime(1, 1, 1, tzinfo=UTC)
    assert rules.discharge_watch_due(ancient, timedelta(hours=24), NOW) == NOW
    assert rules.discharge_watch_due(NOW + timedelta(hours=30), timedelta(hours=24), NOW) == (
        NOW + timedelta(hours=6)
    )


class TestCarePathMoves:
    """Issue 4: offered only once authorised (or when nothing needs authorisation)."""

    S = ReferralStatus

    def test_offer_waits_for_authorisation_when_an_item_needs_it(self) -> None:
        with pytest.raises(IllegalTransitionError, match="need prior authorisation first") as e:
            rules.next_status(
                self.S.eligibility_verified,
                ReferralAction.offer,
                acknowledged=True,
                authorization_required=True,
            )
        assert e.value.extra["allowed_actions"] == [
            "verify_eligibility",
            "request_authorization",
            "cancel",
        ]
        assert (
            rules.next_status(
                self.S.eligibility_verified,
                ReferralAction.offer,
                acknowledged=True,
                authorization_required=False,
            )
            is self.S.offered
        )

    def test_acknowledged_case_is_not_offered_before_eligibility(self) -> None:
        with pytest.raises(IllegalTransitionError) as e:
            rules.next_status(self.S.acknowledged, ReferralAction.offer, acknowledged=True)
        assert "verify_eligibility" in e.value.extra["allowed_actions"]

    @pytest.mark.parametrize(
        ("outcome", "target"),
        [
            ("approved", ReferralStatus.authorized),
            ("partially_approved", ReferralStatus.authorized),
            ("pended", ReferralStatus.authorization_pending),
            ("denied", ReferralStatus.denied),
        ],
    )
    def test_decision_outcomes(self, outcome: str, target: ReferralStatus) -> None:
        after = rules.next_status(
            self.S.authorization_pending,
            ReferralAction.record_authorization_decision,
            acknowledged=True,
            outcome=outcome,
        )
        assert after is target

    def test_denied_case_is_decided_again_only_after_an_appeal(self) -> None:
        with pytest.raises(IllegalTransitionError):
            rules.next_status(
                self.S.denied,
                ReferralAction.record_authorization_decision,
                acknowledged=True,
                outcome="approved",
            )
        assert (
            rules.next_status(self.S.denied, ReferralAction.appeal, acknowledged=True)
            is self.S.authorization_pending
        )

    def test_lapsed_offer_goes_back_to_where_it_was_offered_from(self) -> None:
        for required, back in ((True, self.S.authorized), (False, self.S.eligibility_verified)):
            after = rules.next_status(
                self.S.offered,
                ReferralAction.offer_lapsed,
                acknowledged=True,
                authorization_required=required,
            )
            assert after is back

    def test_schedule_before_acceptance_and_deliver_before_scheduling_are_refused(self) -> None:
        with pytest.raises(IllegalTransitionError, match="it is offered"):
            rules.next_status(self.S.offered, ReferralAction.schedule, acknowledged=True)
        with pytest.raises(IllegalTransitionError, match="a provider has accepted it") as e:
            rules.next_status(self.S.accepted, ReferralAction.record_delivery, acknowledged=True)
        assert e.value.extra["allowed_actions"] == ["schedule", "cancel"]

    def test_fulfilment_path_and_missed_reopens_scheduling(self) -> None:
        path = [
            (self.S.accepted, ReferralAction.schedule, self.S.scheduled),
            (self.S.scheduled, ReferralAction.record_missed, self.S.missed),
            (self.S.missed, ReferralAction.schedule, self.S.scheduled),
            (self.S.scheduled, ReferralAction.record_delivery, self.S.fulfilled),
            (self.S.fulfilled, ReferralAction.close, self.S.closed),
        ]
        for start, action, end in path:
            assert rules.next_status(start, action, acknowledged=True) is end
        assert rules.allowed_actions(self.S.closed, acknowledged=True) == []


class TestAcknowledgedWithinKpi:
    received = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

    def test_met_when_acknowledged_exactly_24_hours_after_receipt(self) -> None:
        at = self.received + timedelta(hours=24)
        assert rules.acknowledged_within_kpi(self.received, at) is True

    def test_missed_when_acknowledged_a_second_later(self) -> None:
        at = self.received + timedelta(hours=24, seconds=1)
        assert rules.acknowledged_within_kpi(self.received, at) is False
