"""Realistic synthetic demo data (no real person, clinician or member)."""
