"""Reports: the key performance indicators of DOMAIN.md §8, read from the case data."""
