"""Referrals: the case, from intake checks to acknowledgement.

Other domains call the modules they need (``service``, ``moves``, ...); ``bulk`` is the
set-based intake of many referrals at once (bulk files), exported here."""

from careloop.referral import bulk as bulk

__all__ = ["bulk"]
