"""The append-only activity log, as read. Its rows are written by `hub.store.changes`."""

from __future__ import annotations

from hub.domain import Activity
from hub.store import Connection, rows_to

__all__ = ["COLUMNS", "list_activity"]

COLUMNS = "id, session_id, actor_id, actor_role, action, detail, created_at"


async def list_activity(
    conn: Connection, session_id: str, after: int, limit: int
) -> list[Activity]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM activity WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        session_id,
        after,
        limit,
    )
    return rows_to(rows, Activity)
