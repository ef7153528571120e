"""Which address a request counts against: the peer, or the client a trusted proxy names."""

from __future__ import annotations

import pytest

from hub.server.client_address import client_address, parse_proxies


def test_client_address_rules() -> None:
    proxies = parse_proxies(["127.0.0.1", "10.0.0.0/8"])
    assert client_address("192.0.2.1", "203.0.113.7", proxies) == "192.0.2.1"  # untrusted peer
    assert client_address("127.0.0.1", None, proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", "203.0.113.7", proxies) == "203.0.113.7"
    assert client_address("127.0.0.1", "6.6.6.6, 203.0.113.7, 10.1.2.3", proxies) == "203.0.113.7"
    assert client_address("127.0.0.1", "10.1.2.3, 10.2.3.4", proxies) == "10.1.2.3"  # all proxies
    assert client_address("127.0.0.1", "not-an-ip", proxies) == "not-an-ip"
    assert client_address("127.0.0.1", "203.0.113.7", ()) == "127.0.0.1"  # nothing trusted
    assert client_address(None, "203.0.113.7", proxies) == "unknown"


def test_a_proxy_must_be_an_address_or_network() -> None:
    assert [str(n) for n in parse_proxies(["10.0.0.5", "10.0.0.0/8", "::1"])] == [
        "10.0.0.5/32",
        "10.0.0.0/8",
        "::1/128",
    ]
    with pytest.raises(ValueError, match=r"'proxy\.local' is not an IP address or network"):
        parse_proxies(["proxy.local"])
