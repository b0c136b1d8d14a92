"""Database kernel: declarative base, portable types, engine and unit of work. No domain."""
