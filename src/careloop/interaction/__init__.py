"""Contacts and notes: every call, e-mail, fax, portal message and text on record, and
notes on a case (DOMAIN.md §8-9). Other code uses ``service`` and ``schemas``."""
