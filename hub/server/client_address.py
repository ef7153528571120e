"""Which address a request comes from, for per-IP rate limits.

The peer of the TCP connection, unless that peer is one of the proxies the operator named with
`--trust-forwarded`: then the client is the rightmost `X-Forwarded-For` hop that is not one of
those proxies (each proxy appends the address it received the request from, so hops left of
the last untrusted one may be forged by the client). Anyone can send `X-Forwarded-For`; it
counts only when a trusted proxy delivered the request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(entries: Iterable[str]) -> tuple[Network, ...]:
    """IP addresses or networks (`10.0.0.5`, `10.0.0.0/8`, `::1`); a bad one is a ValueError naming it."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {entry.strip()!r} is not an IP address or network") from None
    return tuple(networks)


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    if peer is None:
        return "unknown"
    if not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer
