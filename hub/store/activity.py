"""The append-only activity log: one row per mutating operation, in its transaction."""

from __future__ import annotations

from typing import Any

from hub.domain import Activity, ActivityAction
from hub.store import Connection, rows_to

__all__ = ["list_activity", "record"]


async def record(
    conn: Connection,
    session_id: str,
    actor_id: str,
    actor_role: str,
    action: ActivityAction,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO activity (session_id, actor_id, actor_role, action, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        session_id,
        actor_id,
        actor_role,
        action,
        detail or {},
    )


async def list_activity(
    conn: Connection, session_id: str, after: int, limit: int
) -> list[Activity]:
    rows = await conn.fetch(
        "SELECT id, session_id, actor_id, actor_role, action, detail, created_at FROM activity"
        " WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        session_id,
        after,
        limit,
    )
    return rows_to(rows, Activity)
