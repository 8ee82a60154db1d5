"""Credit pools and their ledger: every change of a pool's balance, reservations or
spending is one UPDATE of the pool row and its ledger row, in the caller's transaction.

A reservation is one conditional UPDATE (`balance >= n`): of concurrent reservations on
any number of processes, those that fit commit and the others find no row (and the
schema's CHECK refuses a negative balance even to a bug). Settling and releasing lock
the pool row by their UPDATE too; callers lock a job's row before its pool's, so two
changes never wait on each other in a circle.
"""

from __future__ import annotations

from typing import Any

from hub.domain.pools import (
    MAX_BALANCE,
    LedgerEntry,
    LedgerKind,
    Pool,
    SessionPool,
    Settlement,
)
from hub.errors import HubError
from hub.store import Connection, rows_to

__all__ = [
    "PoolRow",
    "create_pool",
    "find_pool",
    "grant",
    "ledger_page",
    "list_pools",
    "refund",
    "release_reservation",
    "reserve",
    "session_grounds",
    "session_pool",
    "session_pool_id",
    "set_session_pool",
]

_POOL = """SELECT p.id, p.name, p.balance, p.reserved, p.spent, p.created_at, p.updated_at,
        p.owner_user_id, p.owner_space_id,
        CASE WHEN p.owner_user_id IS NULL THEN 'space' ELSE 'user' END AS owner_kind,
        coalesce(u.username, w.slug) AS owner
    FROM compute_pools p
    LEFT JOIN users u ON u.id = p.owner_user_id
    LEFT JOIN workspaces w ON w.id = p.owner_space_id"""
_LEDGER = """id, pool_id, kind, amount, reserved_change, balance_after, job_id, actor, note,
    created_at"""


class PoolRow:
    """A pool as read, with who owns it (a person's id or a space's id)."""

    __slots__ = ("owner_space_id", "owner_user_id", "pool")

    def __init__(self, row: Any) -> None:
        self.pool = Pool(
            id=row["id"],
            name=row["name"],
            owner_kind=row["owner_kind"],
            owner=row["owner"],
            balance=row["balance"],
            reserved=row["reserved"],
            spent=row["spent"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        self.owner_user_id: str | None = row["owner_user_id"]
        self.owner_space_id: str | None = row["owner_space_id"]


async def create_pool(
    conn: Connection,
    pool_id: str,
    name: str,
    *,
    user_id: str | None,
    space_id: str | None,
    created_by: str,
) -> PoolRow:
    await conn.execute(
        "INSERT INTO compute_pools (id, name, owner_user_id, owner_space_id, created_by)"
        " VALUES ($1, $2, $3, $4, $5)",
        pool_id,
        name,
        user_id,
        space_id,
        created_by,
    )
    found = await find_pool(conn, pool_id)
    assert found is not None
    return found


async def find_pool(conn: Connection, pool_id: str, *, lock: bool = False) -> PoolRow | None:
    row = await conn.fetchrow(
        _POOL + " WHERE p.id = $1" + (" FOR UPDATE OF p" if lock else ""), pool_id
    )
    return None if row is None else PoolRow(row)


async def list_pools(conn: Connection, user_id: str) -> list[Pool]:
    """The person's pools and those of the spaces they are a member of, oldest first."""
    rows = await conn.fetch(
        _POOL
        + """ WHERE p.owner_user_id = $1
            OR p.owner_space_id IN (SELECT workspace_id FROM workspace_members
                                     WHERE user_id = $1)
            ORDER BY p.created_at, p.id""",
        user_id,
    )
    return [PoolRow(r).pool for r in rows]


async def _ledger(
    conn: Connection,
    pool_id: str,
    kind: LedgerKind,
    amount: int,
    reserved_change: int,
    balance_after: int,
    job_id: str | None,
    actor: str,
    note: str = "",
) -> None:
    await conn.execute(
        "INSERT INTO compute_ledger (pool_id, kind, amount, reserved_change, balance_after,"
        " job_id, actor, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        pool_id,
        kind,
        amount,
        reserved_change,
        balance_after,
        job_id,
        actor,
        note,
    )


async def grant(conn: Connection, pool_id: str, amount: int, actor: str, note: str) -> None:
    """Add `amount` to the balance, with its `grant` row; `bad_request` (nothing
    written) if the pool would then have had more than `MAX_BALANCE` granted (less
    refunds: its balance, reservations and spending)."""
    balance = await conn.fetchval(
        "UPDATE compute_pools SET balance = balance + $2, updated_at = now()"
        " WHERE id = $1 AND balance + reserved + spent + $2 <= $3 RETURNING balance",
        pool_id,
        amount,
        MAX_BALANCE,
    )
    if balance is None:
        raise HubError("bad_request", f"a pool holds at most {MAX_BALANCE} credits")
    await _ledger(conn, pool_id, "grant", amount, 0, balance, None, actor, note)


async def reserve(conn: Connection, pool_id: str, amount: int, job_id: str, actor: str) -> None:
    """Move `amount` from the balance to the reservations, with its `reserve` row, or
    raise `insufficient_credits` (nothing written) if the balance holds less. The job
    row must exist (the ledger row names it)."""
    if amount == 0:
        return
    balance = await conn.fetchval(
        "UPDATE compute_pools SET balance = balance - $2, reserved = reserved + $2,"
        " updated_at = now() WHERE id = $1 AND balance >= $2 RETURNING balance",
        pool_id,
        amount,
    )
    if balance is None:
        raise HubError(
            "insufficient_credits", f"the session's pool holds fewer than {amount} credits"
        )
    await _ledger(conn, pool_id, "reserve", -amount, amount, balance, job_id, actor)


async def release_reservation(
    conn: Connection, pool_id: str, job_id: str, settlement: Settlement, actor: str
) -> None:
    """End a job's reservation: `charged` becomes spent (a `settle` row), `released`
    returns to the balance (a `release` row)."""
    total = settlement.charged + settlement.released
    if total == 0:
        return
    balance = await conn.fetchval(
        "UPDATE compute_pools SET reserved = reserved - $2, balance = balance + $3,"
        " spent = spent + $4, updated_at = now() WHERE id = $1 RETURNING balance",
        pool_id,
        total,
        settlement.released,
        settlement.charged,
    )
    if settlement.charged:
        await _ledger(
            conn,
            pool_id,
            "settle",
            0,
            -settlement.charged,
            balance - settlement.released,
            job_id,
            actor,
        )
    if settlement.released:
        await _ledger(
            conn,
            pool_id,
            "release",
            settlement.released,
            -settlement.released,
            balance,
            job_id,
            actor,
        )


async def refund(
    conn: Connection, pool_id: str, job_id: str, amount: int, actor: str, note: str
) -> str | None:
    """Give back `amount` of a finished job's charge to the pool (a `refund` row): the
    job's session id, or None (nothing written) if the job is not this pool's, not
    finished, or `amount` is more than its charge not yet refunded."""
    session_id: str | None = await conn.fetchval(
        """UPDATE compute_jobs SET cost_refunded = cost_refunded + $3, updated_at = now()
            WHERE id = $1 AND pool_id = $2 AND cost_charged IS NOT NULL
              AND cost_refunded + $3 <= cost_charged
        RETURNING session_id""",
        job_id,
        pool_id,
        amount,
    )
    if session_id is None:
        return None
    balance = await conn.fetchval(
        "UPDATE compute_pools SET balance = balance + $2, spent = spent - $2,"
        " updated_at = now() WHERE id = $1 RETURNING balance",
        pool_id,
        amount,
    )
    await _ledger(conn, pool_id, "refund", amount, 0, balance, job_id, actor, note)
    return session_id


async def ledger_page(
    conn: Connection, pool_id: str, before: int | None, limit: int
) -> list[LedgerEntry]:
    rows = await conn.fetch(
        f"SELECT {_LEDGER} FROM compute_ledger WHERE pool_id = $1"
        " AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        pool_id,
        before,
        limit,
    )
    return rows_to(rows, LedgerEntry)


async def set_session_pool(conn: Connection, session_id: str, pool_id: str, set_by: str) -> None:
    await conn.execute(
        """INSERT INTO compute_session_pools (session_id, pool_id, set_by) VALUES ($1, $2, $3)
           ON CONFLICT (session_id) DO UPDATE
              SET pool_id = excluded.pool_id, set_by = excluded.set_by, set_at = now()""",
        session_id,
        pool_id,
        set_by,
    )


async def session_pool_id(conn: Connection, session_id: str) -> tuple[str, str] | None:
    """The pool the session draws on and its owner (`owner_ref`); None if none."""
    row = await conn.fetchrow(
        """SELECT s.pool_id, CASE WHEN p.owner_user_id IS NULL THEN 'space:' || p.owner_space_id
                                  ELSE 'user:' || p.owner_user_id END AS owner
             FROM compute_session_pools s JOIN compute_pools p ON p.id = s.pool_id
            WHERE s.session_id = $1""",
        session_id,
    )
    return None if row is None else (row["pool_id"], row["owner"])


async def session_pool(conn: Connection, session_id: str) -> SessionPool | None:
    row = await conn.fetchrow(
        "SELECT pool_id, set_by, set_at FROM compute_session_pools WHERE session_id = $1",
        session_id,
    )
    if row is None:
        return None
    found = await find_pool(conn, row["pool_id"])
    assert found is not None
    return SessionPool(
        session_id=session_id, pool=found.pool, set_by=row["set_by"], set_at=row["set_at"]
    )


async def session_grounds(conn: Connection, session_id: str) -> tuple[str | None, str | None]:
    """(the person owning the session's verified agent A, the session's space): what
    decides which pools it may draw on."""
    row = await conn.fetchrow(
        "SELECT p.user_id, s.workspace_id FROM sessions s"
        " LEFT JOIN agent_profiles p ON p.id = s.agent_a_profile_id WHERE s.id = $1",
        session_id,
    )
    return (None, None) if row is None else (row["user_id"], row["workspace_id"])
