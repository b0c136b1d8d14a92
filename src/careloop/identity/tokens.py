"""Bearer tokens: random, shown once, stored as SHA-256.

A token carries 256 bits of randomness, so a fast hash is the right tool (a slow password
hash would only cost every request time without adding safety).
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "cl_"  # noqa: S105 - a prefix, not a secret


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
