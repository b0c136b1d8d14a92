"""The HTTP side of a delivery: resolve the receiver's host, refuse it if any of its
addresses is not a public one (rules.address_problem), and POST to the very address
that was checked, so a name that resolves elsewhere a moment later (DNS rebinding)
changes nothing. The host name still goes in the Host header and the TLS handshake
(SNI and certificate check). Redirects are not followed: a receiver answers where it
was registered, or the attempt fails.

Outside the demo (the setting ``webhook_allow_private_addresses``), only https URLs on
public addresses are called."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from careloop.webhook import rules

#: (host, port) -> the addresses the host name resolves to.
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST gave: success (2xx), the status code if any, and otherwise why it
    failed, in words an organisation's admin reads."""

    ok: bool
    status_code: int | None = None
    error: str | None = None


class UrlRefusedError(Exception):
    """A receiver's URL CareLoop will not call; the message says why, in words."""


@dataclass(frozen=True)
class Sender:
    allow_private: bool = False
    timeout_seconds: float = rules.TIMEOUT.total_seconds()
    resolver: Resolver = system_resolver

    def vet(self, url: str) -> tuple[str, str]:
        """The (host, address) to call for ``url``; raises :class:`UrlRefusedError` when
        the URL is not acceptable, the host does not resolve, or any address it resolves
        to is private, loopback, link-local or multicast (outside the demo)."""
        problem = rules.url_problem(url, allow_private=self.allow_private)
        if problem:
            raise UrlRefusedError(f"The URL {problem}.")
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise UrlRefusedError(f"The host name {host} does not resolve to any address.")
        if not self.allow_private:
            for address in addresses:
                why = rules.address_problem(address)
                if why:
                    raise UrlRefusedError(
                        f"The host {host} resolves to {address}, which {why}; "
                        "CareLoop calls only public internet addresses."
                    )
        return host, addresses[0]

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        """POST ``body`` to ``url`` at the address just vetted; never raises."""
        try:
            host, address = self.vet(url)
        except UrlRefusedError as exc:
            return Attempt(ok=False, error=str(exc))
        parts = urlsplit(url)
        netloc = f"[{address}]" if ":" in address else address
        if parts.port:
            netloc += f":{parts.port}"
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = host if not parts.port else f"{host}:{parts.port}"
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        request_headers = {
            **headers,
            "Host": host_header,
            "Content-Type": "application/json",
            "User-Agent": "CareLoop-Webhooks/1",
        }
        try:
            # One client per message: a shared pool keyed by address could reuse one
            # host's TLS connection for another host on the same address.
            with (
                httpx.Client(
                    timeout=self.timeout_seconds, follow_redirects=False, trust_env=False
                ) as client,
                client.stream(
                    "POST", pinned, content=body, headers=request_headers, extensions=extensions
                ) as response,
            ):
                code = response.status_code
        except httpx.TimeoutException:
            return Attempt(
                ok=False,
                error=f"The receiver did not answer within {self.timeout_seconds:g} seconds.",
            )
        except httpx.HTTPError as exc:
            return Attempt(ok=False, error=f"The receiver could not be reached ({_why(exc)}).")
        if 200 <= code < 300:
            return Attempt(ok=True, status_code=code)
        return Attempt(ok=False, status_code=code, error=_answered(code))


def _answered(code: int) -> str:
    if 300 <= code < 400:
        return f"The receiver answered {code}, a redirect; CareLoop does not follow redirects."
    if code >= 500:
        return f"The receiver answered {code}, a server error."
    return f"The receiver answered {code}, a refusal."


def _why(exc: httpx.HTTPError) -> str:
    text = str(exc).lower()
    if "certificate" in text or "ssl" in text or "tls" in text:
        return "its TLS certificate could not be verified"
    if "refused" in text:
        return "the connection was refused"
    return "the connection failed"
