"""Kernel shared by every domain: errors, clock, actor, pagination. Imports no domain."""
