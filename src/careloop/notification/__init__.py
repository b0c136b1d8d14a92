"""Notifications: delivering the outbox to referrers, members, providers and staff."""
