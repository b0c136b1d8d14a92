"""The sender calls only the address it checked: a host name that resolves to this
machine or a private network (first, or after it was registered: DNS rebinding) is
refused before any byte is sent. A real receiver on 127.0.0.1 stands for the target."""

from __future__ import annotations

import pytest

from careloop.webhook.sender import Sender, UrlRefusedError
from tests.factories.webhook import running_receiver


def _resolving_to(*addresses: str) -> Sender:
    """A sender whose DNS answers ``addresses`` for every host (the rebinding attacker's)."""
    return Sender(resolver=lambda _host, _port: list(addresses))


def test_a_host_that_now_resolves_to_this_machine_gets_nothing() -> None:
    with running_receiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        url = f"https://hooks.example.org:{port}/careloop/hook"
        _resolving_to("93.184.216.34").vet(url)  # registered while it looked public
        attempt = _resolving_to("127.0.0.1").post(url, b"{}", {})
        assert not attempt.ok and attempt.status_code is None
        assert "127.0.0.1" in (attempt.error or "") and "loopback" in (attempt.error or "")
        assert receiver.received == []
        # The control: the demo's sender does reach it, at the address it resolved.
        demo = Sender(allow_private=True, resolver=lambda _h, _p: ["127.0.0.1"])
        plain = url.replace("https://", "http://")
        assert demo.post(plain, b"{}", {"X-Test": "1"}).ok
        assert len(receiver.received) == 1
        assert receiver.received[0].headers["host"] == f"hooks.example.org:{port}"


def test_every_address_of_a_host_is_checked() -> None:
    with pytest.raises(UrlRefusedError, match=r"10\.0\.0\.7.*private network"):
        _resolving_to("93.184.216.34", "10.0.0.7").vet("https://hooks.example.org/x")
    with pytest.raises(UrlRefusedError, match="does not resolve"):
        _resolving_to().vet("https://hooks.example.org/x")


def test_a_receiver_that_redirects_or_fails_is_a_failed_attempt_in_words() -> None:
    demo = Sender(allow_private=True, timeout_seconds=2)
    with running_receiver() as receiver:
        receiver.answers = [302, 410]
        moved = demo.post(receiver.url, b"{}", {})
        gone = demo.post(receiver.url, b"{}", {})
    assert not moved.ok and "redirect" in (moved.error or "")
    assert not gone.ok and gone.status_code == 410 and "refusal" in (gone.error or "")
    closed = demo.post(receiver.url, b"{}", {})  # the server has stopped
    assert not closed.ok and "could not be reached" in (closed.error or "")
