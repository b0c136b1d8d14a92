"""Eligibility and benefits: is the member covered on the service date, and which items
need prior authorisation (DOMAIN.md §2 step 4)."""
