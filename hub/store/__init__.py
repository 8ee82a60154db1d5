"""PostgreSQL access: the pool, transactions, and the mapping of database failures.

One module per aggregate beside this one holds its plain-SQL queries. Every mutating
query runs in a transaction that also writes its activity row. A database that cannot
be reached surfaces as `HubError("unavailable")`, never as a false success.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TypeAlias, TypeVar

import asyncpg
import msgspec

from hub.errors import HubError

__all__ = ["Connection", "Store", "row_to", "rows_to", "unavailable_on_failure"]

log = logging.getLogger("hub.store")

Connection: TypeAlias = asyncpg.Connection
T = TypeVar("T")

# Failures that mean "the database is not there right now", as opposed to a bug.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.ConnectionFailureError,
    asyncpg.PostgresConnectionError,
)


@asynccontextmanager
async def unavailable_on_failure() -> AsyncIterator[None]:
    """Turn a lost or unreachable database into `HubError("unavailable")`."""
    try:
        yield
    except HubError:
        raise
    except _UNAVAILABLE as exc:
        log.warning("database unavailable: %s", exc)
        raise HubError("unavailable", "the database is unavailable; retry shortly") from exc


async def _init_connection(conn: Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename,
            encoder=lambda v: msgspec.json.encode(v).decode(),
            decoder=msgspec.json.decode,
            schema="pg_catalog",
        )


async def _keep_session(conn: Connection) -> None:
    """Hub never changes a connection's session state (no SET, LISTEN, cursors or
    session-level advisory locks), so the reset query asyncpg would run on every release,
    a round trip each time, is skipped. An open transaction is still rolled back."""


def row_to(record: asyncpg.Record, type_: type[T]) -> T:
    """Convert a database row into a domain struct (columns named as the fields)."""
    return msgspec.convert(dict(record.items()), type_)


def rows_to(records: Sequence[asyncpg.Record], type_: type[T]) -> list[T]:
    return [row_to(r, type_) for r in records]


class Store:
    """The connection pool and the way to run work against it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str, *, size: int = 10) -> Store:
        async with unavailable_on_failure():
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=size,
                init=_init_connection,
                reset=_keep_session,
                server_settings={"timezone": "UTC"},
                command_timeout=30,
                timeout=10,
            )
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with unavailable_on_failure():
            # Bounded by asyncio.timeout rather than acquire(timeout=...), which starts a
            # task per call: a fifth of the CPU of a websocket connect.
            async with asyncio.timeout(10):
                conn = await self.pool.acquire()
            try:
                yield conn
            finally:
                await self.pool.release(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection inside a transaction that commits when the block exits cleanly."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.connection() as conn:
                await conn.fetchval("SELECT 1", timeout=2)
            return True
        except HubError:
            return False
