"""Every referral API test runs with the token checked at each request and with the
token cache on (the event loop's path for a known caller's good referral)."""

from __future__ import annotations

from tests.api.conftest import on_both_token_paths

settings = on_both_token_paths()
