"""The bearer-token cache trusts a token for its TTL and no longer."""

from __future__ import annotations

from careloop.core.actor import Actor, Role
from careloop.web.transaction import TokenCache

ACTOR = Actor(user_id=1, role=Role.intake_agent, organization_id=None, display_name="Priya")


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cached_until_the_ttl_runs_out() -> None:
    time = FakeTime()
    cache = TokenCache(ttl=30, clock=time)
    cache.put("h", ACTOR)
    time.now += 29.9
    assert cache.get("h") == ACTOR
    time.now += 0.2
    assert cache.get("h") is None


def test_nothing_cached_when_ttl_is_zero() -> None:
    cache = TokenCache(ttl=0)
    cache.put("h", ACTOR)
    assert cache.get("h") is None
