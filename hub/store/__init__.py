"""PostgreSQL access: the pool, transactions, and the mapping of database failures.

One module per aggregate beside this one holds its plain-SQL queries. Every mutating
query runs in a transaction that also writes its activity row. A database that cannot
be reached surfaces as `HubError("unavailable")`, never as a false success.

Every wait on PostgreSQL is bounded by the store's `timeout`: connecting, taking a
pooled connection and the work done with it (each `connection()` or `transaction()` use,
as a whole). A connection whose use was cut short (a timeout, a lost socket, a
cancellation) is closed at once, never returned to the pool: its state is unknown, and
a database that went quiet would hold the next user too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TypeAlias, TypeVar

import asyncpg
import msgspec

from hub.errors import HubError

__all__ = ["Connection", "Store", "on_unique", "row_to", "rows_to", "unavailable_on_failure"]

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


def _session_settings(timeout: float) -> str:
    """Server-side bounds for a hub connection that goes quiet: PostgreSQL probes an
    idle socket (so a vanished hub's backend ends) and ends a transaction left idle,
    releasing its session row locks, which other processes' commits wait on. Set with
    SET rather than as startup parameters, which poolers such as PgBouncer refuse."""
    idle_ms = int(max(5 * timeout, 10.0) * 1000)
    return (
        f"SET idle_in_transaction_session_timeout = {idle_ms};"
        " SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;"
        " SET tcp_keepalives_count = 3"
    )


async def _keep_session(conn: Connection) -> None:
    """Hub never changes a connection's session state (no SET, LISTEN, cursors or
    session-level advisory locks; an export's SET LOCAL and cursors end with its
    transaction), so the reset query asyncpg would run on every release,
    a round trip each time, is skipped. An open transaction is still rolled back."""


@contextmanager
def on_unique(refusals: Mapping[str, Exception]) -> Iterator[None]:
    """Turn a unique violation of one of the named constraints into the exception given
    for it (what the caller can act on: a name taken, a code to draw again); any other
    violation goes on as it is."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        refusal = refusals.get(exc.constraint_name or "")
        if refusal is None:
            raise
        raise refusal from None


def row_to(record: asyncpg.Record, type_: type[T]) -> T:
    """Convert a database row into a domain struct (columns named as the fields)."""
    return msgspec.convert(dict(record.items()), type_)


def rows_to(records: Sequence[asyncpg.Record], type_: type[T]) -> list[T]:
    return [row_to(r, type_) for r in records]


class Store:
    """The connection pool and the way to run work against it, every wait bounded by
    `timeout` seconds."""

    def __init__(self, pool: asyncpg.Pool, *, timeout: float = 2.0) -> None:
        self.pool = pool
        self.timeout = timeout

    @classmethod
    async def open(cls, url: str, *, size: int = 10, wait_limit: float = 2.0) -> Store:
        """Open the pool; `wait_limit` bounds every wait on PostgreSQL, in seconds."""
        settings = _session_settings(wait_limit)

        async def init(conn: Connection) -> None:
            await _init_connection(conn)
            await conn.execute(settings)

        async with unavailable_on_failure():
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=size,
                init=init,
                reset=_keep_session,
                server_settings={"timezone": "UTC"},
                # a backstop per statement (and for asyncpg's own cancel requests); the
                # bound that callers see is the one on each use below
                command_timeout=wait_limit,
                timeout=wait_limit,
            )
        return cls(pool, timeout=wait_limit)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self, within: float | None = None) -> AsyncIterator[Connection]:
        """A pooled connection for one use: taking it and the block together get
        `within` seconds (the store's timeout by default), then `HubError("unavailable")`."""
        deadline = asyncio.get_running_loop().time() + (self.timeout if within is None else within)
        async with unavailable_on_failure():
            # asyncio.timeout rather than acquire(timeout=...), which starts a task per
            # call: a fifth of the CPU of a websocket connect.
            async with asyncio.timeout_at(deadline):
                conn = await self.pool.acquire()
            try:
                async with asyncio.timeout_at(deadline):
                    yield conn
            except BaseException as exc:
                if not _answered(exc, conn):
                    conn.terminate()  # quiet or interrupted: never reuse it
                raise
            finally:
                await self.pool.release(conn)

    @asynccontextmanager
    async def transaction(self, within: float | None = None) -> AsyncIterator[Connection]:
        """A connection inside a transaction that commits when the block exits cleanly.
        If the block ends otherwise, the transaction is rolled back, or, when the server
        may not be listening, ended by closing the connection (no ROLLBACK to wait on)."""
        async with self.connection(within) as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                yield conn
            except BaseException as exc:
                if _answered(exc, conn):
                    await transaction.rollback()
                raise
            await transaction.commit()

    @asynccontextmanager
    async def snapshot(self, within: float | None = None) -> AsyncIterator[Connection]:
        """A connection inside a read-only REPEATABLE READ transaction: every query of the
        block sees the database as it was at the first one, whatever commits meanwhile."""
        async with self.connection(within) as conn:
            transaction = conn.transaction(isolation="repeatable_read", readonly=True)
            await transaction.start()
            try:
                yield conn
            except BaseException as exc:
                if _answered(exc, conn):
                    await transaction.rollback()
                raise
            await transaction.commit()

    async def ping(self) -> bool:
        """Whether PostgreSQL answers, within the store's timeout."""
        try:
            async with self.connection() as conn:
                await conn.fetchval("SELECT 1")
            return True
        except HubError:
            return False


def _answered(exc: BaseException, conn: Connection) -> bool:
    """Whether a failure leaves the connection in a known state: the server answered
    (an SQL error), or Hub refused something while the connection sat idle."""
    if isinstance(exc, HubError):
        return exc.code != "unavailable" and not conn.is_closed()
    return isinstance(exc, asyncpg.PostgresError) and not conn.is_closed()
