"""Audit: who read or wrote which case, when, with what outcome (HIPAA 164.312(b))."""
