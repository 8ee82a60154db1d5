"""Outgoing HTTP for webhooks, guarded against server-side request forgery.

A URL is checked when it is registered and again at each delivery (`check_url`: scheme,
no credentials, an IP literal host must be public). A host name is resolved when the
connection is made, by `GuardedResolver`, which refuses the connection if any address
it resolves to is internal (`address_refusal`): the connector then connects to exactly
the addresses it checked, so a name that answers a public address to a check and an
internal one to the connection (DNS rebinding) never gets the second lookup.
Redirects are never followed (a 3xx answer is a failed attempt); no proxy settings are
read from the environment. `HUB_WEBHOOK_ALLOW_PRIVATE` lifts the address checks (and
allows `http://`), for development and tests.
"""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from hub.domain.webhooks import address_refusal

__all__ = ["GuardedResolver", "Refused", "http_client", "refusal_of"]


class Refused(OSError):
    """A connection the SSRF guard refused; its message says to which address."""


class GuardedResolver(AbstractResolver):
    """System name resolution that refuses any name with an internal address."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            why = address_refusal(ipaddress.ip_address(result["host"].partition("%")[0]))
            if why is not None:
                raise Refused(f"{host[:200]} resolves to {why}")
        return found

    async def close(self) -> None:
        await self._inner.close()


def http_client(*, allow_private: bool, connections: int) -> aiohttp.ClientSession:
    """The client deliveries are made with (one per worker)."""
    connector = aiohttp.TCPConnector(
        resolver=None if allow_private else GuardedResolver(),
        use_dns_cache=False,  # resolve (and check) for every new connection
        limit=connections,
    )
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        headers={"User-Agent": "Hub-Webhooks/1"},
        auto_decompress=False,
    )


def refusal_of(exc: BaseException) -> Refused | None:
    """The guard's refusal behind a failed connection, if that is why it failed."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Refused):
            return seen
        if isinstance(seen, aiohttp.ClientConnectorError) and isinstance(seen.os_error, Refused):
            return seen.os_error
        seen = seen.__cause__
    return None
