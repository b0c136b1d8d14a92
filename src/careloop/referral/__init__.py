"""Referrals: the case, from intake checks to acknowledgement."""
