"""Payers (health plans) and the rules each one sets for the cases it sends."""
