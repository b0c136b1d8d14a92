"""How hard a message is tried: pure figures and the backoff between attempts.

A channel that is down (an SMTP server refusing connections) never loses a message: it
is tried again, further apart each time, at most ``MAX_BACKOFF`` apart. A message the
channel refuses for good (an address that does not exist) is parked as failed after
``MAX_ATTEMPTS``, where staff see it.
"""

from __future__ import annotations

from datetime import timedelta

#: A permanently refused message is tried this many times before it is parked as failed.
MAX_ATTEMPTS = 8
#: The longest pause between two attempts of a message whose channel is down.
MAX_BACKOFF = timedelta(hours=1)
#: The first pause; each further attempt doubles it, up to ``MAX_BACKOFF``.
FIRST_BACKOFF = timedelta(seconds=30)


def backoff(attempts: int) -> timedelta:
    """The pause before the next attempt after ``attempts`` attempts (exponential, capped)."""
    factor: int = 2 ** min(max(attempts, 0), 12)
    return min(FIRST_BACKOFF * factor, MAX_BACKOFF)
