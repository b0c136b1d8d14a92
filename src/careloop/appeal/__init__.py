"""Appeals of a denial, level by level (DOMAIN.md §4, §6; issue 11): the appeal window a
denial opens, the payer's ladder of levels with their filing and decision windows, the
appeal letter, and the outcome. Other code uses ``service``, ``schemas`` and ``rules``."""
