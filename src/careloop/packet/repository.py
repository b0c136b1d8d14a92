"""The packet owns no table: it reads through the other domains' services and records
its SHA-256 through ``referral.moves``. Nothing to query here."""

from __future__ import annotations
