"""Matching's cheaper ways of building a ranking's facts and its response give what the
plain ways give: the facts built keyword by keyword, the response model by model."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from careloop.matching import service
from careloop.matching.repository import CandidateRow, TrackRecord
from careloop.matching.rules import (
    CandidateFacts,
    ExcludedCandidate,
    ExclusionRule,
    MatchResult,
    RankedCandidate,
    Rate,
)
from careloop.matching.schemas import CandidatesRead, ExcludedCandidateRead, RankedCandidateRead
from careloop.referral.assignment import CaseForMatching
from careloop.referral.enums import ReferralStatus, Urgency

TODAY = date(2026, 11, 26)
names = st.text(min_size=1, max_size=40)
words = st.sets(st.sampled_from(["oxygen", "wound_care", "ostomy", "en", "es-MX"]))


@st.composite
def candidate_rows(draw: st.DrawFn) -> CandidateRow:
    capacity = draw(st.integers(0, 12))
    return CandidateRow(
        provider_id=draw(st.integers(1, 2**31 - 1)),
        name=draw(names),
        checklist_complete=draw(st.booleans()),
        offerable_until=draw(st.none() | st.integers(-3, 3).map(lambda d: TODAY + timedelta(d))),
        in_network=draw(st.booleans()),
        serves_zip=draw(st.booleans()),
        serves_county=draw(st.booleans()),
        service_line_offered=draw(st.booleans()),
        categories=frozenset(draw(words)),
        daily_capacity=capacity,
        used_today=draw(st.integers(0, capacity + 3)),
        languages=frozenset(draw(words)),
        already_offered=draw(st.booleans()),
    )


track_records = st.builds(
    TrackRecord, *(st.integers(0, 50) for _ in TrackRecord._fields)
) | st.just(TrackRecord(0, 0, 0, 0))


def keyword_facts(row: CandidateRow, record: TrackRecord, today: date) -> CandidateFacts:
    """The facts as ``service._facts`` built them before it passed them by position."""
    lapsed = row.offerable_until is not None and today >= row.offerable_until
    reason = None
    if not row.checklist_complete:
        reason = "onboarding checklist incomplete"
    elif lapsed:
        reason = f"a required credential lapsed on {row.offerable_until:%Y-%m-%d}"
    return CandidateFacts(
        provider_id=row.provider_id,
        name=row.name,
        offerable=row.checklist_complete and not lapsed,
        not_offerable_reason=reason,
        in_network=row.in_network,
        serves_zip=row.serves_zip,
        serves_county=row.serves_county,
        service_line_offered=row.service_line_offered,
        categories_offered=row.categories,
        daily_capacity=row.daily_capacity,
        used_today=min(row.used_today, row.daily_capacity),
        on_time=Rate(record.on_time, record.on_time + record.late_or_missed),
        acceptance=Rate(record.accepted, record.accepted + record.not_accepted),
        languages=row.languages,
        already_offered=row.already_offered,
    )


@given(candidate_rows(), track_records)
def test_facts_are_those_built_by_keyword(row: CandidateRow, record: TrackRecord) -> None:
    assert service._facts(row, record, TODAY) == keyword_facts(row, record, TODAY)


reasons = st.lists(st.text(max_size=30), max_size=7).map(tuple)
ranked_candidates = st.builds(
    RankedCandidate,
    provider_id=st.integers(1, 2**31 - 1),
    name=names,
    score=st.integers(0, 200_000).map(lambda n: n / 10_000),
    reasons=reasons,
)
excluded_candidates = st.builds(
    ExcludedCandidate,
    provider_id=st.integers(1, 2**31 - 1),
    name=names,
    rule=st.sampled_from(ExclusionRule),
    reason=st.text(max_size=60),
)
results = st.builds(
    MatchResult,
    ranked=st.lists(ranked_candidates, max_size=8).map(tuple),
    excluded=st.lists(excluded_candidates, max_size=8).map(tuple),
)
cases = st.builds(
    CaseForMatching,
    id=st.integers(1, 10_000),
    case_number=st.from_regex(r"CL-2026-[0-9]{6}", fullmatch=True),
    status=st.just(ReferralStatus.acknowledged),
    payer_id=st.none(),
    zip_code=st.from_regex(r"[0-9]{5}", fullmatch=True),
    state=st.just("CT"),
    county=st.none(),
    city=st.none(),
    time_zone=st.just("America/New_York"),
    service_class=st.just("dme"),
    service_line=st.sampled_from(["dme", "home_health"]),
    categories=st.frozensets(st.sampled_from(["oxygen", "wound_care", "ostomy"])),
    item_codes=st.just(()),
    items=st.just(()),
    payer_name=st.none(),
    member_language=st.none(),
    requested_start=st.none(),
    discharge_at=st.none(),
    urgency=st.just(Urgency.routine),
    discharge_dependent=st.just(False),
)


@given(cases, results)
def test_response_is_the_one_built_model_by_model(
    case: CaseForMatching, result: MatchResult
) -> None:
    expected = CandidatesRead(
        case_number=case.case_number,
        service_line=case.service_line,
        categories=sorted(case.categories),
        zip_code=case.zip_code,
        service_date=TODAY,
        ranked=[
            RankedCandidateRead(
                provider_id=c.provider_id, name=c.name, score=c.score, reasons=list(c.reasons)
            )
            for c in result.ranked
        ],
        excluded=[
            ExcludedCandidateRead(
                provider_id=c.provider_id, name=c.name, rule=c.rule.value, reason=c.reason
            )
            for c in result.excluded
        ],
    )
    got = service._candidates_read(case, result, TODAY)
    assert got == expected
    assert got.model_dump_json() == expected.model_dump_json()
    assert all(type(c.rule) is str for c in got.excluded)
    assert all(type(c.reasons) is list for c in got.ranked)
