"""Work queue: what needs a person now, for a team or a user, most urgent first."""
