"""Matching rules: hard rules exclude a provider, soft factors rank the rest. Pure.

DOMAIN.md §2 step 6: a network provider that serves the member's address, the service line
and the payer, with current credentials and capacity, is offered the referral; on decline or
silence the offer goes to the next one. DOMAIN.md §5 lists what matching looks at: service
lines, service area (ZIP codes / counties), payer networks, capacity and track record.

No I/O: the repository pre-filters in SQL so that only plausible providers arrive here, and
hands each over as a ``CandidateFacts``. ``rank`` tells, in plain words, why each eligible
provider ranks where it does and which rule left each other provider out. The order is a
total order on (score, provider id), so equal inputs give equal output in any input order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from operator import attrgetter

from careloop.sla import CalendarKind, DeadlineRule

#: Window of the track record, in days: the repository counts visits and offers of the last
#: 90 days, long enough to hold a few dozen visits for a small agency, recent enough that an
#: agency that has fixed its scheduling is not held to last year's record.
TRACK_RECORD_DAYS = 90

# County-equivalents that already carry their kind in the name (Louisiana parishes, Alaska
# boroughs and census areas, Virginia's independent cities).
_COUNTY_SUFFIXES = ("county", "parish", "borough", "census area", "municipality", "city")


class ExclusionRule(StrEnum):
    """Hard rules, in the order they are evaluated; a provider is excluded by the first it fails."""

    # DOMAIN.md §5: offered referrals only while the checklist is complete and nothing expired.
    not_offerable = "not_offerable"
    # DOMAIN.md §2 step 6: in the payer's network, judged on the service date.
    out_of_network = "out_of_network"
    # Serves the member's address: the ZIP code or the county.
    outside_service_area = "outside_service_area"
    # Offers the service line and every item category the referral asks for.
    service_not_offered = "service_not_offered"
    # Has a slot left today for that service line.
    no_capacity = "no_capacity"
    # Already declined this referral or let its offer expire: the offer goes to the next one.
    already_offered = "already_offered"


@dataclass(frozen=True, slots=True)
class Rate:
    """A track record: ``successes`` out of ``total`` (on-time visits, accepted offers)."""

    successes: int
    total: int

    def __post_init__(self) -> None:
        if not 0 <= self.successes <= self.total:
            raise ValueError(
                f"a rate needs 0 <= successes <= total, got {self.successes} of {self.total}"
            )

    def shrunk(self, prior: float, weight: float) -> float:
        """Bayesian (beta-binomial) estimate: the record as if ``weight`` earlier outcomes at
        rate ``prior`` came before it, so 1 of 1 (0.875 with the defaults) does not beat 95
        of 100 (0.945), and a provider without history is taken at the prior."""
        denominator = self.total + weight
        if denominator == 0:
            return prior
        return (self.successes + prior * weight) / denominator

    def percent(self) -> int:
        """Whole percent, rounded down so that 199 of 200 never reads as 100 %."""
        return 100 * self.successes // self.total if self.total else 0


@dataclass(frozen=True, slots=True)
class ReferralNeeds:
    """What the referral asks of a provider.

    ``state`` qualifies ``county`` (county names repeat across states); the repository uses
    both to pre-filter. ``categories`` are item categories (``oxygen``, ``wound_care``) and
    ``member_language`` a BCP 47 tag (``es``, ``es-MX``) or None when English suits.
    The reasons name the day and the language in words, never ``2026-11-26`` or ``pt``.
    """

    payer_name: str
    service_date: date
    zip_code: str
    county: str | None
    state: str
    service_line: str
    categories: frozenset[str]
    member_language: str | None
    #: The language by its name ("Portuguese"), for the reasons people read.
    member_language_name: str | None = None


@dataclass(slots=True)
class CandidateFacts:
    """One provider as the repository sees it for this referral and today.

    Not frozen, though nothing changes it once built: one is built per provider of every
    ranking (hundreds for a dense area), and a frozen dataclass's ``__init__`` sets each of
    its fifteen fields through ``object.__setattr__`` (2.7 us a build against 0.3 us)."""

    provider_id: int
    name: str
    offerable: bool
    not_offerable_reason: str | None
    in_network: bool
    serves_zip: bool
    serves_county: bool
    service_line_offered: bool
    categories_offered: frozenset[str]
    daily_capacity: int
    used_today: int
    on_time: Rate
    acceptance: Rate
    languages: frozenset[str]
    already_offered: bool

    def __post_init__(self) -> None:
        if self.daily_capacity < 0 or self.used_today < 0:
            raise ValueError(
                f"provider {self.provider_id}: capacity and slots used must not be negative, "
                f"got {self.used_today} of {self.daily_capacity}"
            )


@dataclass(frozen=True, slots=True)
class MatchingWeights:
    """Weights of the soft factors; every factor is normalised to [0, 1] before weighting.

    The defaults are project defaults, set by the product team for the pilot and not taken
    from a published source; operator configuration overrides them, and a payer's own
    configuration overrides the operator's (``from_config(payer, base=operator)``):

    - ``on_time`` 3.0: the strongest factor, because a late first visit or delivery holds up
      a hospital discharge (DOMAIN.md §2 steps 7-8).
    - ``same_zip`` 2.0 / ``same_county`` 1.0: a provider that lists the member's ZIP travels
      less than one that covers the whole county; a provider serving both counts once, at
      the larger weight.
    - ``acceptance`` 2.0: each decline costs a re-offer round (DOMAIN.md §2 step 6).
    - ``language`` 1.5: a member with a preferred language, served in it; counts only when
      the referral names one.
    - ``spare_capacity`` 1.0: the share of today's slots still free, to spread the load.
    - ``prior_rate`` 0.85 and ``prior_weight`` 5.0: a new provider is taken as on time and
      accepting 85 % of the time, worth five outcomes of record (see ``Rate.shrunk``).
    """

    same_zip: float = 2.0
    same_county: float = 1.0
    on_time: float = 3.0
    acceptance: float = 2.0
    spare_capacity: float = 1.0
    language: float = 1.5
    prior_rate: float = 0.85
    prior_weight: float = 5.0

    def __post_init__(self) -> None:
        for name in _WEIGHT_NAMES:
            _check_weight(name, getattr(self, name))

    @classmethod
    def from_config(
        cls, config: Mapping[str, object], *, base: MatchingWeights | None = None
    ) -> MatchingWeights:
        """Weights from configuration: the keys given override ``base`` (the defaults when
        None). An unknown key, a non-number, or a value out of range raises ValueError
        naming the key."""
        values: dict[str, float] = {}
        for key, value in config.items():
            if key not in _WEIGHT_NAMES:
                known = ", ".join(_WEIGHT_NAMES)
                raise ValueError(f"unknown matching weight {key!r}; known weights: {known}")
            values[key] = _check_weight(key, value)
        return replace(base if base is not None else cls(), **values)


_WEIGHT_NAMES = tuple(f.name for f in fields(MatchingWeights))


def _check_weight(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"matching weight {name!r} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"matching weight {name!r} must be finite and >= 0, got {value!r}")
    if name == "prior_rate" and value > 1:
        raise ValueError(f"matching weight 'prior_rate' must be between 0 and 1, got {value!r}")
    return float(value)


DEFAULT_MATCHING_WEIGHTS = MatchingWeights()


@dataclass(frozen=True, slots=True)
class RankedCandidate:
    provider_id: int
    name: str
    score: float  # rounded to 4 decimals so that float noise never reorders equal providers
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExcludedCandidate:
    provider_id: int
    name: str
    rule: ExclusionRule
    reason: str


@dataclass(frozen=True, slots=True)
class MatchResult:
    ranked: tuple[RankedCandidate, ...]  # best first: score descending, then provider id
    excluded: tuple[ExcludedCandidate, ...]  # by provider id


_NOT_OFFERABLE = "onboarding checklist incomplete or a credential expired"
_ALREADY_OFFERED = "already declined or let an offer for this referral expire"


@dataclass(frozen=True, slots=True)
class _Texts:
    """The phrases that depend on the referral only, worded once per ranking."""

    in_network: str
    not_in_network: str
    serves_zip: str
    serves_county: str
    outside_area: str
    offers: str
    service_line_missing: str
    language: str | None  # primary subtag, case-folded
    speaks: str
    does_not_speak: str


def _words(code: str) -> str:
    return code.replace("_", " ")


def _county(county: str) -> str:
    return county if county.casefold().endswith(_COUNTY_SUFFIXES) else f"{county} County"


@lru_cache(maxsize=1024)  # a handful of distinct tags; spares re-parsing them per candidate
def _primary_language(tag: str) -> str:
    return tag.split("-", 1)[0].casefold()


def _texts(needs: ReferralNeeds) -> _Texts:
    on = needs.service_date.strftime("%a %d %b %Y")
    zip_text = f"ZIP {needs.zip_code}"
    county = _county(needs.county) if needs.county else None
    area = f"{zip_text} or {county}" if county else zip_text
    service_line = _words(needs.service_line)
    categories = ", ".join(sorted(_words(c) for c in needs.categories))
    lang = needs.member_language
    lang_name = needs.member_language_name or lang
    return _Texts(
        in_network=f"in network for {needs.payer_name} on {on}",
        not_in_network=f"not in {needs.payer_name}'s network on {on}",
        serves_zip=f"serves {zip_text}",
        serves_county=f"serves {county or 'the county'}",
        outside_area=f"does not serve {area}",
        offers=f"offers {categories or service_line}",
        service_line_missing=f"does not offer {service_line}",
        language=_primary_language(lang) if lang else None,
        speaks=f"speaks {lang_name}",
        does_not_speak=f"does not speak {lang_name}",
    )


def _exclusion(  # noqa: PLR0911 - one return per rule, in the order of evaluation
    needs: ReferralNeeds, texts: _Texts, candidate: CandidateFacts
) -> tuple[ExclusionRule, str] | None:
    if not candidate.offerable:
        return ExclusionRule.not_offerable, candidate.not_offerable_reason or _NOT_OFFERABLE
    if not candidate.in_network:
        return ExclusionRule.out_of_network, texts.not_in_network
    if not (candidate.serves_zip or candidate.serves_county):
        return ExclusionRule.outside_service_area, texts.outside_area
    if not candidate.service_line_offered:
        return ExclusionRule.service_not_offered, texts.service_line_missing
    if not needs.categories <= candidate.categories_offered:
        return ExclusionRule.service_not_offered, _not_offered(
            needs.categories - candidate.categories_offered
        )
    if candidate.used_today >= candidate.daily_capacity:
        used = f"{candidate.used_today} of {candidate.daily_capacity} used"
        return ExclusionRule.no_capacity, f"no slots left today ({used})"
    if candidate.already_offered:
        return ExclusionRule.already_offered, _ALREADY_OFFERED
    return None


@lru_cache(maxsize=1024)  # the same few missing categories recur across candidates
def _not_offered(missing: frozenset[str]) -> str:
    return f"does not offer {', '.join(sorted(_words(c) for c in missing))}"


def _eligible(needs: ReferralNeeds, candidate: CandidateFacts) -> bool:
    """``_exclusion(...) is None``, without wording a reason."""
    return (
        candidate.offerable
        and candidate.in_network
        and (candidate.serves_zip or candidate.serves_county)
        and candidate.service_line_offered
        and needs.categories <= candidate.categories_offered
        and candidate.used_today < candidate.daily_capacity
        and not candidate.already_offered
    )


def first_exclusion(
    needs: ReferralNeeds, candidate: CandidateFacts
) -> tuple[ExclusionRule, str] | None:
    """The first hard rule (in ``ExclusionRule`` order) the provider fails, with the reason
    in plain words, or None when the provider may be offered the referral."""
    return _exclusion(needs, _texts(needs), candidate)


def _speaks(language: str, candidate: CandidateFacts) -> bool:
    """Matched on the primary language subtag, case-insensitively: "es-MX" is served in "es"."""
    languages = candidate.languages
    return language in languages or any(_primary_language(tag) == language for tag in languages)


def _ranked(texts: _Texts, candidate: CandidateFacts, weights: MatchingWeights) -> RankedCandidate:
    """Score and reasons of an eligible provider: a weighted sum of factors in [0, 1]."""
    prior, prior_weight = weights.prior_rate, weights.prior_weight
    # Serving both counts once, at the larger weight; the reason names the finer area.
    area = weights.same_zip if candidate.serves_zip else 0.0
    if candidate.serves_county and weights.same_county > area:
        area = weights.same_county
    area_text = texts.serves_zip if candidate.serves_zip else texts.serves_county
    on_time, acceptance = candidate.on_time, candidate.acceptance
    capacity = candidate.daily_capacity
    left = capacity - candidate.used_today
    score = (
        area
        + weights.on_time * on_time.shrunk(prior, prior_weight)
        + weights.acceptance * acceptance.shrunk(prior, prior_weight)
        + weights.spare_capacity * (left / capacity)
    )
    reasons = [
        texts.in_network,
        area_text,
        texts.offers,
        f"{left} of {capacity} slots left today",
        *_record_words(on_time.successes, on_time.total, acceptance.successes, acceptance.total),
    ]
    if texts.language is not None:
        if _speaks(texts.language, candidate):
            score += weights.language
            reasons.append(texts.speaks)
        else:
            reasons.append(texts.does_not_speak)
    # Half-up to 4 decimals (the score is never negative): monotone like round(score, 4) at a
    # quarter of its cost (65 ns against 265 ns), which counts at 200 candidates a request.
    rounded = int(score * 10_000 + 0.5) / 10_000
    return RankedCandidate(candidate.provider_id, candidate.name, rounded, tuple(reasons))


@lru_cache(maxsize=4096)  # a few hundred distinct track records recur across rankings
def _record_words(on_time: int, of_visits: int, accepted: int, of_offers: int) -> tuple[str, str]:
    """The reasons that tell a track record: on-time visits of all, accepted offers of all."""
    return (
        f"on-time {Rate(on_time, of_visits).percent()} % over {TRACK_RECORD_DAYS} days"
        if of_visits
        else "no on-time history yet",
        f"accepted {Rate(accepted, of_offers).percent()} % of offers"
        if of_offers
        else "no offers yet",
    )


_by_score = attrgetter("score")
_by_provider = attrgetter("provider_id")


def _sort_best_first(ranked: list[RankedCandidate]) -> None:
    """Score descending, then provider id: sorted by id, then stably by score (the same
    order as the key (-score, provider id), with C key functions instead of a Python one
    called per candidate)."""
    ranked.sort(key=_by_provider)
    ranked.sort(key=_by_score, reverse=True)


def rank(
    needs: ReferralNeeds,
    candidates: Iterable[CandidateFacts],
    weights: MatchingWeights = DEFAULT_MATCHING_WEIGHTS,
) -> MatchResult:
    """Rank the providers that pass every hard rule; list the others with the first rule each
    failed. Best first by score, ties by provider id, so the result does not depend on the
    order of ``candidates``. A provider id given twice raises ValueError."""
    texts = _texts(needs)
    seen: set[int] = set()
    ranked: list[RankedCandidate] = []
    excluded: list[ExcludedCandidate] = []
    for candidate in candidates:
        if candidate.provider_id in seen:
            raise ValueError(f"provider {candidate.provider_id} is a candidate twice")
        seen.add(candidate.provider_id)
        exclusion = _exclusion(needs, texts, candidate)
        if exclusion is None:
            ranked.append(_ranked(texts, candidate, weights))
        else:
            excluded.append(ExcludedCandidate(candidate.provider_id, candidate.name, *exclusion))
    _sort_best_first(ranked)
    excluded.sort(key=_by_provider)
    return MatchResult(tuple(ranked), tuple(excluded))


def rank_eligible(
    needs: ReferralNeeds,
    candidates: Iterable[CandidateFacts],
    weights: MatchingWeights = DEFAULT_MATCHING_WEIGHTS,
) -> tuple[RankedCandidate, ...]:
    """``rank(needs, candidates, weights).ranked``, without wording why the others are
    left out (a batch of rankings keeps only the ranked)."""
    texts = _texts(needs)
    seen: set[int] = set()
    ranked: list[RankedCandidate] = []
    for candidate in candidates:
        if candidate.provider_id in seen:
            raise ValueError(f"provider {candidate.provider_id} is a candidate twice")
        seen.add(candidate.provider_id)
        if _eligible(needs, candidate):
            ranked.append(_ranked(texts, candidate, weights))
    _sort_best_first(ranked)
    return tuple(ranked)


# ---- offers ---------------------------------------------------------------------------------


_ROUTINE_RESPONSE = DeadlineRule(
    name="offer response",
    duration=timedelta(hours=2),
    calendar=CalendarKind.business,
    source="provider-network issue: answer within 2 business hours",
)
_DISCHARGE_RESPONSE = DeadlineRule(
    name="offer response (discharge-dependent)",
    duration=timedelta(minutes=30),
    calendar=CalendarKind.clock,
    source="provider-network issue: 30 minutes when a discharge depends on it",
)


@dataclass(frozen=True, slots=True)
class OfferPolicy:
    """How long a provider has to answer an offer before it goes to the next candidate.

    Defaults from the provider-network issue: 2 business hours, 30 minutes (around the
    clock) when a hospital discharge depends on the referral.
    """

    routine: DeadlineRule = _ROUTINE_RESPONSE
    discharge: DeadlineRule = _DISCHARGE_RESPONSE

    def rule_for(self, *, discharge_dependent: bool) -> DeadlineRule:
        return self.discharge if discharge_dependent else self.routine


DEFAULT_OFFER_POLICY = OfferPolicy()
