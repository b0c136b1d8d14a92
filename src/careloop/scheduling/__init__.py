"""Scheduling and fulfilment: the delivery or first visit, its written confirmation for
the discharge planner, the outcome, and recurring supplies (DOMAIN.md §2 steps 7-9)."""
