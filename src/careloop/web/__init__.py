"""HTTP edge: routing with a unit of work, problem+json errors, body parsing, auth."""
