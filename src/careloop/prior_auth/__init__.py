"""Prior authorisation: requests, reviewers' decisions, appeals and units (DOMAIN.md §2
step 5, §6)."""
