"""Identity and access: organisations, users, roles and bearer tokens."""
