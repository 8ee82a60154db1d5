"""What user keys (`user_keys`, a person's) and agent keys (`agent_keys`, a profile's)
share: adding, listing and revoking one holder's keys, and noting a key's use. Their text
is never stored; a key row holds its SHA-256, its name and its times."""

from __future__ import annotations

from typing import Literal, TypeVar

from hub.errors import HubError
from hub.store import Connection, row_to, rows_to

__all__ = [
    "KEY_COLUMNS",
    "LAST_USED_EVERY",
    "USED_LONG_AGO",
    "add_key",
    "list_keys",
    "note_used",
    "revoke_key",
]

KEY_COLUMNS = "id, name, created_at, last_used_at, revoked_at"
LAST_USED_EVERY = 60
"""Seconds between two writes of a key's `last_used_at` (a busy key is not written on
every request)."""
USED_LONG_AGO = (
    f"(k.last_used_at IS NULL OR k.last_used_at < now() - interval '{LAST_USED_EVERY} seconds')"
)
"""Whether key row `k` is due to have its use noted (`note_used`), for a look-up's SELECT."""
K = TypeVar("K")
Holder = Literal["user_keys.user_id", "agent_keys.profile_id"]


async def add_key(
    conn: Connection,
    holder: Holder,
    holder_id: str,
    *,
    key_id: str,
    name: str,
    key_hash: bytes,
    type_: type[K],
) -> K:
    table, column = holder.split(".")
    row = await conn.fetchrow(
        f"""INSERT INTO {table} (id, {column}, name, key_hash) VALUES ($1, $2, $3, $4)
            RETURNING {KEY_COLUMNS}""",
        key_id,
        holder_id,
        name,
        key_hash,
    )
    assert row is not None
    return row_to(row, type_)


async def note_used(conn: Connection, holder: Holder, key_id: str) -> None:
    """Note that a key was used now, unless that was noted in the last `LAST_USED_EVERY`
    seconds: of concurrent first uses, one writes and the others, having waited for it,
    find it fresh."""
    table = holder.split(".")[0]
    await conn.execute(
        f"UPDATE {table} k SET last_used_at = now() WHERE k.id = $1 AND {USED_LONG_AGO}",
        key_id,
    )


async def list_keys(conn: Connection, holder: Holder, holder_id: str, type_: type[K]) -> list[K]:
    """The holder's keys, revoked ones too, oldest first."""
    table, column = holder.split(".")
    rows = await conn.fetch(
        f"SELECT {KEY_COLUMNS} FROM {table} WHERE {column} = $1 ORDER BY created_at, id",
        holder_id,
    )
    return rows_to(rows, type_)


async def revoke_key(
    conn: Connection, holder: Holder, holder_id: str, key_id: str, type_: type[K], missing: str
) -> K:
    """Revoke one of the holder's keys (again: no change); `not_found` (`missing`) if it
    is not the holder's."""
    table, column = holder.split(".")
    row = await conn.fetchrow(
        f"""UPDATE {table} SET revoked_at = coalesce(revoked_at, now())
            WHERE id = $1 AND {column} = $2 RETURNING {KEY_COLUMNS}""",
        key_id,
        holder_id,
    )
    if row is None:
        raise HubError("not_found", missing)
    return row_to(row, type_)
