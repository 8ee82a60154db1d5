"""Who is calling, and how much they may: token authentication, the websocket slots of
a participant (counted over every process), and per-minute limits kept on the bus."""

from __future__ import annotations

from nanoid import generate as nanoid

from hub.bus import Bus
from hub.config import Config
from hub.domain import Principal
from hub.errors import HubError
from hub.metrics import Metrics
from hub.security import hash_token
from hub.store import Store
from hub.store import sessions as session_store

__all__ = ["Access"]

_TOKEN_PREFIXES = ("agt_", "obs_")


class Access:
    def __init__(
        self, config: Config, store: Store, bus: Bus, *, metrics: Metrics | None = None
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._store = store
        self._bus = bus
        self.slot_ttl = config.heartbeat_interval * 3
        """Seconds a websocket slot (and a live presence) lasts unless refreshed."""

    async def authenticate(self, token: str | None) -> Principal:
        """The principal a token speaks for; `unauthorized` or `session_deleted` if none."""
        if not token or not token.startswith(_TOKEN_PREFIXES) or len(token) > 100:
            raise HubError("unauthorized", "a valid session token is required")
        async with self._store.connection() as conn:
            found = await session_store.principal_for_token(conn, hash_token(token))
        if found is None:
            raise HubError("unauthorized", "unknown token")
        principal, deleted = found
        if deleted:
            raise HubError("session_deleted", "the session was deleted")
        return principal

    async def open_connection(self, principal: Principal) -> str:
        """Take one of the participant's websocket slots (counted over every process);
        `rate_limited` if it holds `max_connections_per_participant` already. Returns
        the slot's id, for `close_connection`."""
        connection_id = str(nanoid(size=16))
        limit = self._config.max_connections_per_participant
        if not await self._bus.claim_connection(
            principal.session_id,
            principal.participant_id,
            connection_id,
            limit,
            self.slot_ttl,
        ):
            self._count("connections")
            raise HubError(
                "rate_limited",
                f"too many connections for this participant (at most {limit}); close one",
            )
        return connection_id

    async def close_connection(self, principal: Principal, connection_id: str) -> None:
        await self._bus.release_connection(
            principal.session_id, principal.participant_id, connection_id
        )

    async def take(
        self,
        limit: str,
        subject: str,
        per_minute: float,
        cost: float = 1,
        *,
        burst: float | None = None,
    ) -> float:
        """Spend `cost` tokens of a per-minute limit (bursts of `burst`, by default
        `per_minute`; a cost of 0 only looks, a negative one gives back): 0.0 if they
        were there, else the seconds until one is."""
        return await self._bus.take(limit, subject, per_minute / 60.0, burst or per_minute, cost)

    async def limit(self, limit: str, subject: str, per_minute: int, message: str) -> None:
        """Spend a token of a per-minute limit, or raise `rate_limited` carrying the
        seconds until one is available."""
        wait = await self.take(limit, subject, per_minute)
        if wait > 0:
            raise self.refusal(limit, message, wait)

    def refusal(self, limit: str, message: str, wait: float) -> HubError:
        """The `rate_limited` error of a limit, counted in the metrics."""
        self._count(limit)
        return HubError("rate_limited", message, data=wait)

    def _count(self, limit: str) -> None:
        if self._metrics is not None:
            self._metrics.limited(limit)
