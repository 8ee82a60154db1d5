"""Last known presence of each participant (the live state is kept by the bus)."""

from __future__ import annotations

from hub.domain import Presence
from hub.store import Connection, rows_to

__all__ = ["list_presence", "save_presence"]


async def save_presence(conn: Connection, session_id: str, presence: Presence) -> None:
    await conn.execute(
        """INSERT INTO presence (session_id, participant_id, role, status, current_activity,
               last_seen_at, display_name)
           VALUES ($1, $2, $3, $4, $5, COALESCE($6, now()), $7)
           ON CONFLICT (session_id, participant_id) DO UPDATE SET status = $4,
               current_activity = $5, last_seen_at = COALESCE($6, now()), display_name = $7""",
        session_id,
        presence.participant_id,
        presence.role,
        presence.status,
        presence.activity,
        presence.last_seen_at,
        presence.display_name,
    )


async def list_presence(conn: Connection, session_id: str) -> list[Presence]:
    rows = await conn.fetch(
        "SELECT participant_id, role, status, current_activity AS activity, last_seen_at,"
        " display_name"
        " FROM presence WHERE session_id = $1 ORDER BY participant_id",
        session_id,
    )
    return rows_to(rows, Presence)
