"""CareLoop: a care-coordination hub for home-based care."""

__version__ = "0.1.0"
