"""Matching: hard rules exclude, soft factors rank (DOMAIN.md §2 step 6, §5)."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.matching.rules import (
    DEFAULT_MATCHING_WEIGHTS,
    CandidateFacts,
    ExclusionRule,
    MatchingWeights,
    Rate,
    ReferralNeeds,
    first_exclusion,
    rank,
    rank_eligible,
)

NEEDS = ReferralNeeds(
    payer_name="New England Health Plan",
    service_date=date(2026, 11, 26),
    zip_code="06103",
    county="Hartford",
    state="CT",
    service_line="dme",
    categories=frozenset({"oxygen"}),
    member_language=None,
)


def eligible(provider_id: int = 1, /, **changes: object) -> CandidateFacts:
    facts = CandidateFacts(
        provider_id=provider_id,
        name=f"Provider {provider_id}",
        offerable=True,
        not_offerable_reason=None,
        in_network=True,
        serves_zip=True,
        serves_county=True,
        service_line_offered=True,
        categories_offered=frozenset({"oxygen", "wound_care"}),
        daily_capacity=5,
        used_today=3,
        on_time=Rate(97, 100),
        acceptance=Rate(8, 10),
        languages=frozenset({"en"}),
        already_offered=False,
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


# Each rule with a change that breaks it (and only it), in the order of evaluation.
BREAKS: list[tuple[ExclusionRule, dict[str, object]]] = [
    (ExclusionRule.not_offerable, {"offerable": False}),
    (ExclusionRule.out_of_network, {"in_network": False}),
    (ExclusionRule.outside_service_area, {"serves_zip": False, "serves_county": False}),
    (ExclusionRule.service_not_offered, {"service_line_offered": False}),
    (ExclusionRule.no_capacity, {"used_today": 5}),
    (ExclusionRule.already_offered, {"already_offered": True}),
]


class TestFirstExclusion:
    def test_none_when_every_hard_rule_passes(self) -> None:
        assert first_exclusion(NEEDS, eligible()) is None

    def test_rules_are_evaluated_in_the_documented_order_when_listed(self) -> None:
        assert [rule for rule, _ in BREAKS] == list(ExclusionRule)

    @pytest.mark.parametrize(
        ("changes", "rule", "reason"),
        [
            (
                {"offerable": False, "not_offerable_reason": "licence expired on 2026-11-20"},
                ExclusionRule.not_offerable,
                "licence expired on 2026-11-20",
            ),
            (
                {"offerable": False},
                ExclusionRule.not_offerable,
                "onboarding checklist incomplete or a credential expired",
            ),
            (
                {"in_network": False},
                ExclusionRule.out_of_network,
                "not in New England Health Plan's network on Thu 26 Nov 2026",
            ),
            (
                {"serves_zip": False, "serves_county": False},
                ExclusionRule.outside_service_area,
                "does not serve ZIP 06103 or Hartford County",
            ),
            (
                {"service_line_offered": False},
                ExclusionRule.service_not_offered,
                "does not offer dme",
            ),
            (
                {"categories_offered": frozenset({"wound_care"})},
                ExclusionRule.service_not_offered,
                "does not offer oxygen",
            ),
            (
                {"used_today": 5},
                ExclusionRule.no_capacity,
                "no slots left today (5 of 5 used)",
            ),
            (
                {"daily_capacity": 0, "used_today": 0},
                ExclusionRule.no_capacity,
                "no slots left today (0 of 0 used)",
            ),
            (
                {"already_offered": True},
                ExclusionRule.already_offered,
                "already declined or let an offer for this referral expire",
            ),
        ],
    )
    def test_excluded_with_plain_reason_when_a_rule_fails(
        self, changes: dict[str, object], rule: ExclusionRule, reason: str
    ) -> None:
        assert first_exclusion(NEEDS, eligible(**changes)) == (rule, reason)

    @pytest.mark.parametrize("first", range(len(BREAKS)))
    def test_excluded_by_the_first_rule_when_several_fail(self, first: int) -> None:
        changes: dict[str, object] = {}
        for _, breaking in BREAKS[first:]:
            changes.update(breaking)
        exclusion = first_exclusion(NEEDS, eligible(**changes))
        assert exclusion is not None and exclusion[0] is BREAKS[first][0]

    def test_area_reason_names_only_the_zip_when_the_county_is_unknown(self) -> None:
        needs = replace(NEEDS, county=None)
        candidate = eligible(serves_zip=False, serves_county=False)
        assert first_exclusion(needs, candidate) == (
            ExclusionRule.outside_service_area,
            "does not serve ZIP 06103",
        )

    def test_county_equivalent_is_not_suffixed_when_it_names_its_kind(self) -> None:
        needs = replace(NEEDS, county="Orleans Parish")
        candidate = eligible(serves_zip=False, serves_county=False)
        exclusion = first_exclusion(needs, candidate)
        assert (
            exclusion is not None and exclusion[1] == "does not serve ZIP 06103 or Orleans Parish"
        )

    def test_every_missing_category_named_in_words_when_several_lack(self) -> None:
        needs = replace(
            NEEDS,
            service_line="home_health",
            categories=frozenset({"wound_care", "oxygen", "ostomy"}),
        )
        candidate = eligible(categories_offered=frozenset({"oxygen"}))
        assert first_exclusion(needs, candidate) == (
            ExclusionRule.service_not_offered,
            "does not offer ostomy, wound care",
        )

    def test_service_line_named_in_words_when_not_offered(self) -> None:
        needs = replace(NEEDS, service_line="home_health")
        exclusion = first_exclusion(needs, eligible(service_line_offered=False))
        assert exclusion == (ExclusionRule.service_not_offered, "does not offer home health")

    def test_serving_the_county_is_enough_when_the_zip_is_not_listed(self) -> None:
        assert first_exclusion(NEEDS, eligible(serves_zip=False)) is None


class TestReasons:
    def test_reasons_read_like_the_issue_when_the_provider_is_ranked(self) -> None:
        candidate = eligible(
            serves_county=False, used_today=3, on_time=Rate(97, 100), acceptance=Rate(8, 10)
        )
        (ranked,) = rank(NEEDS, [candidate]).ranked
        assert ranked.reasons == (
            "in network for New England Health Plan on Thu 26 Nov 2026",
            "serves ZIP 06103",
            "offers oxygen",
            "2 of 5 slots left today",
            "on-time 97 % over 90 days",
            "accepted 80 % of offers",
        )

    def test_county_named_when_only_the_county_is_served(self) -> None:
        (ranked,) = rank(NEEDS, [eligible(serves_zip=False)]).ranked
        assert ranked.reasons[1] == "serves Hartford County"

    def test_categories_in_words_when_several_are_needed(self) -> None:
        needs = replace(NEEDS, categories=frozenset({"wound_care", "oxygen"}))
        (ranked,) = rank(needs, [eligible()]).ranked
        assert ranked.reasons[2] == "offers oxygen, wound care"

    def test_service_line_named_when_no_category_is_needed(self) -> None:
        needs = replace(NEEDS, service_line="home_health", categories=frozenset())
        (ranked,) = rank(needs, [eligible()]).ranked
        assert ranked.reasons[2] == "offers home health"

    def test_no_history_said_when_the_provider_is_new(self) -> None:
        (ranked,) = rank(NEEDS, [eligible(on_time=Rate(0, 0), acceptance=Rate(0, 0))]).ranked
        assert ranked.reasons[4:] == ("no on-time history yet", "no offers yet")

    def test_percent_rounded_down_when_nearly_perfect(self) -> None:
        (ranked,) = rank(NEEDS, [eligible(on_time=Rate(199, 200))]).ranked
        assert ranked.reasons[4] == "on-time 99 % over 90 days"

    def test_language_named_when_the_member_has_one(self) -> None:
        needs = replace(NEEDS, member_language="es")
        speaks = eligible(1, languages=frozenset({"en", "es-MX"}))
        does_not = eligible(2)
        result = rank(needs, [speaks, does_not])
        assert [r.reasons[-1] for r in result.ranked] == ["speaks es", "does not speak es"]
        named = rank(replace(needs, member_language_name="Spanish"), [speaks, does_not])
        assert [r.reasons[-1] for r in named.ranked] == [
            "speaks Spanish",
            "does not speak Spanish",
        ]

    def test_language_not_mentioned_when_the_member_has_none(self) -> None:
        (ranked,) = rank(NEEDS, [eligible(languages=frozenset({"es"}))]).ranked
        assert not any("speak" in reason for reason in ranked.reasons)


class TestRank:
    def test_excluded_listed_by_provider_id_with_their_rule_when_rules_fail(self) -> None:
        candidates = [
            eligible(9, in_network=False),
            eligible(4),
            eligible(2, already_offered=True),
        ]
        result = rank(NEEDS, candidates)
        assert [(e.provider_id, e.rule) for e in result.excluded] == [
            (2, ExclusionRule.already_offered),
            (9, ExclusionRule.out_of_network),
        ]
        assert [r.provider_id for r in result.ranked] == [4]

    def test_better_record_first_when_other_facts_are_equal(self) -> None:
        late = eligible(1, on_time=Rate(70, 100))
        punctual = eligible(2, on_time=Rate(99, 100))
        assert [r.provider_id for r in rank(NEEDS, [late, punctual]).ranked] == [2, 1]

    def test_one_of_one_does_not_beat_95_of_100_when_shrunk(self) -> None:
        lucky = eligible(1, on_time=Rate(1, 1))
        steady = eligible(2, on_time=Rate(95, 100))
        assert [r.provider_id for r in rank(NEEDS, [lucky, steady]).ranked] == [2, 1]

    def test_same_zip_beats_same_county_when_other_facts_are_equal(self) -> None:
        county = eligible(1, serves_zip=False)
        zip_ = eligible(2, serves_county=False)
        assert [r.provider_id for r in rank(NEEDS, [county, zip_]).ranked] == [2, 1]

    def test_language_match_ranks_first_when_the_member_has_a_language(self) -> None:
        needs = replace(NEEDS, member_language="es")
        other = eligible(1)
        speaks = eligible(2, languages=frozenset({"ES"}))
        assert [r.provider_id for r in rank(needs, [other, speaks]).ranked] == [2, 1]

    def test_score_is_the_weighted_sum_when_weights_are_default(self) -> None:
        (ranked,) = rank(NEEDS, [eligible(on_time=Rate(0, 0), acceptance=Rate(0, 0))]).ranked
        w = DEFAULT_MATCHING_WEIGHTS
        expected = w.same_zip + w.on_time * 0.85 + w.acceptance * 0.85 + w.spare_capacity * 2 / 5
        assert ranked.score == round(expected, 4)

    def test_refused_when_a_provider_is_a_candidate_twice(self) -> None:
        with pytest.raises(ValueError, match="provider 3"):
            rank(NEEDS, [eligible(3), eligible(3, name="Again")])


class TestWeights:
    def test_config_reorders_when_proximity_outweighs_punctuality(self) -> None:
        near_but_late = eligible(1, serves_county=False, on_time=Rate(60, 100))
        far_but_punctual = eligible(2, serves_zip=False, on_time=Rate(99, 100))
        candidates = [near_but_late, far_but_punctual]
        assert [r.provider_id for r in rank(NEEDS, candidates).ranked] == [2, 1]
        weights = MatchingWeights.from_config({"same_zip": 10, "on_time": 1.0})
        assert [r.provider_id for r in rank(NEEDS, candidates, weights).ranked] == [1, 2]

    def test_unset_keys_keep_the_base_when_config_is_partial(self) -> None:
        operator = MatchingWeights.from_config({"on_time": 4.0})
        payer = MatchingWeights.from_config({"language": 0}, base=operator)
        assert (payer.on_time, payer.language, payer.same_zip) == (4.0, 0.0, 2.0)

    def test_defaults_when_config_is_empty(self) -> None:
        assert MatchingWeights.from_config({}) == DEFAULT_MATCHING_WEIGHTS

    @pytest.mark.parametrize(
        ("config", "key"),
        [
            ({"on_tme": 1.0}, "on_tme"),
            ({"on_time": -1.0}, "on_time"),
            ({"acceptance": math.nan}, "acceptance"),
            ({"same_zip": math.inf}, "same_zip"),
            ({"language": "high"}, "language"),
            ({"spare_capacity": True}, "spare_capacity"),
            ({"prior_rate": 1.5}, "prior_rate"),
            ({"prior_weight": None}, "prior_weight"),
        ],
    )
    def test_refused_naming_the_key_when_config_is_bad(
        self, config: dict[str, object], key: str
    ) -> None:
        with pytest.raises(ValueError, match=f"'{key}'"):
            MatchingWeights.from_config(config)

    def test_refused_when_built_directly_with_a_negative_weight(self) -> None:
        with pytest.raises(ValueError, match="'same_county'"):
            MatchingWeights(same_county=-0.5)


class TestRate:
    def test_prior_when_there_is_no_history(self) -> None:
        assert Rate(0, 0).shrunk(0.85, 5.0) == 0.85
        assert Rate(0, 0).shrunk(0.85, 0.0) == 0.85

    def test_raw_rate_when_the_prior_has_no_weight(self) -> None:
        assert Rate(3, 4).shrunk(0.85, 0.0) == 0.75

    @pytest.mark.parametrize(("successes", "total"), [(-1, 3), (4, 3), (1, -1)])
    def test_refused_when_successes_exceed_bounds(self, successes: int, total: int) -> None:
        with pytest.raises(ValueError, match="successes <= total"):
            Rate(successes, total)

    def test_candidate_refused_when_slots_used_are_negative(self) -> None:
        with pytest.raises(ValueError, match="must not be negative"):
            eligible(used_today=-1)


# --- properties ------------------------------------------------------------------------------

rates = st.integers(0, 200).flatmap(lambda t: st.builds(Rate, st.integers(0, t), st.just(t)))
capacities = st.integers(0, 12).flatmap(lambda c: st.tuples(st.just(c), st.integers(0, c + 1)))
needs_strategy = st.builds(
    ReferralNeeds,
    payer_name=st.just("New England Health Plan"),
    service_date=st.just(date(2026, 11, 26)),
    zip_code=st.just("06103"),
    county=st.sampled_from(["Hartford", None]),
    state=st.just("CT"),
    service_line=st.just("dme"),
    categories=st.frozensets(st.sampled_from(["oxygen", "wound_care", "ostomy"]), max_size=2),
    member_language=st.sampled_from([None, "es", "pt"]),
)


@st.composite
def facts(draw: st.DrawFn, provider_id: int) -> CandidateFacts:
    # Biased towards passing each rule so that most examples rank several providers.
    passes = st.booleans() | st.just(True) | st.just(True)
    capacity, used = draw(capacities)
    return CandidateFacts(
        provider_id=provider_id,
        name=f"Provider {provider_id}",
        offerable=draw(passes),
        not_offerable_reason=None,
        in_network=draw(passes),
        serves_zip=draw(st.booleans()),
        serves_county=draw(passes),
        service_line_offered=draw(passes),
        categories_offered=draw(
            st.frozensets(st.sampled_from(["oxygen", "wound_care", "ostomy"]), min_size=1)
        ),
        daily_capacity=capacity,
        used_today=used,
        on_time=draw(rates),
        acceptance=draw(rates),
        languages=draw(st.frozensets(st.sampled_from(["en", "es", "pt", "vi"]))),
        already_offered=not draw(passes),
    )


@st.composite
def candidate_lists(draw: st.DrawFn) -> list[CandidateFacts]:
    ids = draw(st.lists(st.integers(1, 10_000), unique=True, max_size=30))
    return [draw(facts(provider_id)) for provider_id in ids]


@st.composite
def eligible_facts(draw: st.DrawFn) -> CandidateFacts:
    candidate = draw(facts(1))
    capacity, used = draw(
        st.integers(1, 12).flatmap(lambda c: st.tuples(st.just(c), st.integers(0, c - 1)))
    )
    return replace(
        candidate,
        offerable=True,
        in_network=True,
        serves_county=True,
        service_line_offered=True,
        categories_offered=frozenset({"oxygen", "wound_care", "ostomy"}),
        daily_capacity=capacity,
        used_today=used,
        already_offered=False,
    )


def score_of(needs: ReferralNeeds, candidate: CandidateFacts, weights: MatchingWeights) -> float:
    (ranked,) = rank(needs, [candidate], weights).ranked
    return ranked.score


weights_strategy = st.builds(
    MatchingWeights,
    same_zip=st.floats(0, 10),
    same_county=st.floats(0, 10),
    on_time=st.floats(0, 10),
    acceptance=st.floats(0, 10),
    spare_capacity=st.floats(0, 10),
    language=st.floats(0, 10),
    prior_rate=st.floats(0, 1),
    prior_weight=st.floats(0, 50),
)


class TestRankProperties:
    @given(needs_strategy, candidate_lists(), st.randoms(use_true_random=False))
    def test_same_result_when_input_order_is_shuffled(
        self, needs: ReferralNeeds, candidates: list[CandidateFacts], rnd: random.Random
    ) -> None:
        shuffled = list(candidates)
        rnd.shuffle(shuffled)
        assert rank(needs, shuffled) == rank(needs, candidates)

    @given(
        needs_strategy,
        eligible_facts(),
        st.lists(st.integers(1, 10_000), unique=True, min_size=2, max_size=20),
    )
    def test_ordered_by_provider_id_when_candidates_are_equal(
        self, needs: ReferralNeeds, template: CandidateFacts, ids: list[int]
    ) -> None:
        clones = [replace(template, provider_id=i) for i in ids]
        result = rank(needs, clones)
        assert [r.provider_id for r in result.ranked] == sorted(ids)
        assert len({r.score for r in result.ranked}) == 1

    @given(needs_strategy, candidate_lists())
    def test_every_candidate_is_ranked_or_excluded_once_when_ranked(
        self, needs: ReferralNeeds, candidates: list[CandidateFacts]
    ) -> None:
        result = rank(needs, candidates)
        ranked = [r.provider_id for r in result.ranked]
        excluded = [e.provider_id for e in result.excluded]
        assert sorted(ranked + excluded) == sorted(c.provider_id for c in candidates)
        assert not set(ranked) & set(excluded)
        by_id = {c.provider_id: c for c in candidates}
        for entry in result.excluded:
            assert first_exclusion(needs, by_id[entry.provider_id]) == (entry.rule, entry.reason)
        assert all(first_exclusion(needs, by_id[i]) is None for i in ranked)

    @given(needs_strategy, candidate_lists(), weights_strategy)
    def test_ranking_the_eligible_alone_gives_the_ranked_of_a_full_ranking(
        self, needs: ReferralNeeds, candidates: list[CandidateFacts], weights: MatchingWeights
    ) -> None:
        assert rank_eligible(needs, candidates, weights) == rank(needs, candidates, weights).ranked

    @given(needs_strategy, candidate_lists())
    def test_best_first_then_by_provider_id_when_ranked(
        self, needs: ReferralNeeds, candidates: list[CandidateFacts]
    ) -> None:
        ranked = rank(needs, candidates).ranked
        keys = [(-r.score, r.provider_id) for r in ranked]
        assert keys == sorted(keys)

    @given(needs_strategy, eligible_facts(), weights_strategy, st.data())
    def test_score_never_drops_when_on_time_successes_improve(
        self,
        needs: ReferralNeeds,
        candidate: CandidateFacts,
        weights: MatchingWeights,
        data: st.DataObject,
    ) -> None:
        total = candidate.on_time.total
        successes = data.draw(st.integers(0, total))
        better = data.draw(st.integers(successes, total))
        worse_facts = replace(candidate, on_time=Rate(successes, total))
        better_facts = replace(candidate, on_time=Rate(better, total))
        assert score_of(needs, better_facts, weights) >= score_of(needs, worse_facts, weights)

    @given(needs_strategy, eligible_facts(), weights_strategy, st.integers(1, 20))
    def test_score_never_drops_when_capacity_is_added(
        self,
        needs: ReferralNeeds,
        candidate: CandidateFacts,
        weights: MatchingWeights,
        more: int,
    ) -> None:
        roomier = replace(candidate, daily_capacity=candidate.daily_capacity + more)
        assert score_of(needs, roomier, weights) >= score_of(needs, candidate, weights)
