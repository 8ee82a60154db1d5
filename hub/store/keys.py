"""What user keys (`user_keys`, a person's) and agent keys (`agent_keys`, a profile's)
share: listing and revoking one holder's keys. Their text is never stored; a key row
holds its SHA-256, its name and its times."""

from __future__ import annotations

from typing import Literal, TypeVar

from hub.errors import HubError
from hub.store import Connection, row_to, rows_to

__all__ = ["KEY_COLUMNS", "list_keys", "revoke_key"]

KEY_COLUMNS = "id, name, created_at, last_used_at, revoked_at"
K = TypeVar("K")
Holder = Literal["user_keys.user_id", "agent_keys.profile_id"]


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
