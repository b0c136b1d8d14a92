"""Grievances and regulatory escalation (DOMAIN.md §4, §6; issue 11): a quality complaint
raised by any party with acknowledgement and resolution windows, counted in the
provider's scorecard (``service.provider_scorecard``), and the filing with a state
regulator when the internal routes failed. Other code uses ``service`` and ``schemas``."""
