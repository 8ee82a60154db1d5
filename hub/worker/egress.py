"""Outgoing HTTP for webhooks, guarded against server-side request forgery.

A URL is checked when it is registered and again at each delivery (`check_url`: scheme,
no credentials, an IP literal host must be public). A host name is resolved when the
connection is made, by `GuardedResolver`, which refuses the connection if any address
it resolves to is internal (`address_refusal`): the connector then connects to exactly
the addresses it checked, so a name that answers a public address to a check and an
internal one to the connection (DNS rebinding) never gets the second lookup.
Redirects are never followed (a 3xx answer is a failed attempt); no proxy settings are
read from the environment. `HUB_WEBHOOK_ALLOW_PRIVATE` lifts the address checks (and
allows `http://`), for development and tests; `HUB_WEBHOOK_ALLOW` lifts them for the
networks and host names it lists (`hub.domain.webhooks.Allowance`).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from datetime import UTC, datetime

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from standardwebhooks import Webhook as Signer

from hub.domain.webhooks import Allowance, check_url, parse_retry_after
from hub.errors import HubError
from hub.metrics import Metrics

__all__ = [
    "EXCERPT_BYTES",
    "GuardedResolver",
    "Outcome",
    "Refused",
    "Sender",
    "http_client",
    "refusal_of",
]

EXCERPT_BYTES = 1024


class Refused(OSError):
    """A connection the SSRF guard refused; its message says to which address."""


class GuardedResolver(AbstractResolver):
    """Name resolution (the system's, or `inner`) that refuses any name with an address
    the allowance does not let webhooks reach (a name it allows is not checked)."""

    def __init__(self, allowance: Allowance, inner: AbstractResolver | None = None) -> None:
        self._allowance = allowance
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if self._allowance.host_allowed(host):
            return found
        for result in found:
            ip = ipaddress.ip_address(result["host"].partition("%")[0])
            why = self._allowance.refusal(ip)
            if why is not None:
                raise Refused(f"{host[:200]} resolves to {why}")
        return found

    async def close(self) -> None:
        await self._inner.close()


def http_client(
    allowance: Allowance, *, connections: int, resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """The client deliveries are made with (one per worker); `resolver` replaces the
    system's name resolution (tests), the guard still checking what it answers."""
    connector = aiohttp.TCPConnector(
        resolver=resolver if allowance.everything else GuardedResolver(allowance, resolver),
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


class Outcome(msgspec.Struct):
    """What one attempt got: the status (None: no answer), why it failed, the answer's
    first kilobyte, a `Retry-After` in seconds, and how long it took."""

    status: int | None
    error: str | None
    excerpt: str
    retry_after: float | None
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Sender:
    """Signs and posts one delivery (Standard Webhooks headers), never following a
    redirect, within the attempt timeout, over the guarded client."""

    def __init__(
        self,
        allowance: Allowance,
        *,
        timeout: float,
        connections: int,
        resolver: AbstractResolver | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._allowance = allowance
        self._timeout = timeout
        self._connections = connections
        self._resolver = resolver
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def post(self, url: str, webhook_id: str, body: bytes, signers: list[Signer]) -> Outcome:
        """One attempt (counted in the metrics, if given)."""
        outcome = await self._post(url, webhook_id, body, signers)
        if self._metrics is not None:
            self._metrics.webhook_attempted(outcome.status, outcome.latency_ms)
        return outcome

    async def _post(self, url: str, webhook_id: str, body: bytes, signers: list[Signer]) -> Outcome:
        if not signers:
            return Outcome(None, "no signing secret opens (HUB_SECRET_KEY changed?)", "", None, 0)
        if self._http is None:
            self._http = http_client(
                self._allowance, connections=self._connections, resolver=self._resolver
            )
        now = datetime.now(UTC)
        text = body.decode()
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": " ".join(s.sign(webhook_id, now, text) for s in signers),
        }
        started = time.perf_counter()

        def took() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            check_url(url, self._allowance)
            timeout = aiohttp.ClientTimeout(total=self._timeout)
            async with self._http.post(
                url, data=body, headers=headers, allow_redirects=False, timeout=timeout
            ) as response:
                raw = await response.content.read(EXCERPT_BYTES)
                excerpt = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
                error = None
                if 300 <= response.status < 400:
                    error = "redirects are not followed"
                retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
                return Outcome(response.status, error, excerpt[:EXCERPT_BYTES], retry_after, took())
        except HubError as exc:
            return Outcome(None, exc.message[:500], "", None, took())
        except TimeoutError:
            return Outcome(None, f"no answer within {self._timeout:g} s", "", None, took())
        except (aiohttp.ClientError, OSError) as exc:
            refused = refusal_of(exc)
            error = f"refused: {refused}" if refused else f"{type(exc).__name__}: {exc}"
            return Outcome(None, error[:500], "", None, took())
