"""Which client a request comes from: the address that per-client limits are keyed on.

The socket peer, unless the peer is a trusted proxy (`HUB_TRUSTED_PROXIES`): then the
right-most address in `X-Forwarded-For` that is not itself a trusted proxy, since each
proxy appends the address it saw and only what trusted proxies appended is believed.
An IPv6 client is keyed by its /64, the block one subscriber usually gets.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from hub.config import Network, parse_networks
from hub.web.keys import CONFIG

__all__ = ["client_address", "client_key", "request_client_key"]


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: tuple[Network, ...]
) -> bool:
    return any(address in net for net in nets)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(peer: str | None, forwarded: list[str], trusted: tuple[Network, ...]) -> str:
    """The client's address, given the socket peer and the `X-Forwarded-For` values."""
    nearest = _parse(peer or "")
    if nearest is None:
        return peer or "unknown"
    if not _trusted(nearest, trusted):
        return str(nearest)
    hops = [hop for value in forwarded for hop in value.split(",")]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break  # not written by a trusted proxy: the nearest one is all we know
        nearest = address
        if not _trusted(address, trusted):
            break
    return str(nearest)


def client_key(address: str) -> str:
    """The key per-client limits count under: the address, or an IPv6 address's /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def request_client_key(request: web.Request) -> str:
    """`client_key` of the client that sent `request`."""
    trusted = parse_networks(request.app[CONFIG].trusted_proxies)
    forwarded = request.headers.getall("X-Forwarded-For", []) if trusted else []
    return client_key(client_address(request.remote, forwarded, trusted))
