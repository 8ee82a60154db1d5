"""What a connection is told when it arrives, read in one round trip.

A reconnect storm (a deploy, a network blip) brings every client back at once, and each
one's `hello` needs the session, its notes' and files' summaries and the stored presence. Reading
them with one statement instead of four keeps connects cheap for the database pool.
"""

from __future__ import annotations

import msgspec

from hub.domain import FileInfo, NoteSummary, Presence, Session
from hub.store import Connection, row_to
from hub.store import files as file_store
from hub.store import notes as note_store
from hub.store import sessions as session_store

__all__ = ["Stored", "read_snapshot"]


class Stored(msgspec.Struct, kw_only=True):
    session: Session
    notes: list[NoteSummary]
    files: list[FileInfo]
    presence: list[Presence]
    """As last stored; live presence comes from the bus."""


_NOTES = msgspec.json.Decoder(list[NoteSummary])
_FILES = msgspec.json.Decoder(list[FileInfo])
_PRESENCE = msgspec.json.Decoder(list[Presence])


async def read_snapshot(conn: Connection, session_id: str) -> Stored:
    """The session (`session_not_found` / `session_deleted` if gone) and what it holds."""
    row = await conn.fetchrow(
        f"""SELECT {session_store.COLUMNS}, deleted_at,
               (SELECT coalesce(json_agg(n ORDER BY n.id), '[]')::text FROM
                   (SELECT {note_store.SUMMARY} FROM notes WHERE session_id = $1) n) AS notes_,
               (SELECT coalesce(json_agg(f ORDER BY f.path), '[]')::text FROM
                   (SELECT {file_store.INFO} FROM files WHERE session_id = $1) f) AS files_,
               (SELECT coalesce(json_agg(p ORDER BY p.participant_id), '[]')::text FROM
                   (SELECT participant_id, role, status, current_activity AS activity,
                           last_seen_at, display_name
                    FROM presence WHERE session_id = $1) p) AS presence_
            FROM sessions WHERE id = $1""",
        session_id,
    )
    found = session_store.raise_if_gone(row, session_id)
    session = {k: v for k, v in found.items() if not k.endswith("_")}
    return Stored(
        session=row_to(session, Session),
        notes=_NOTES.decode(found["notes_"]),
        files=_FILES.decode(found["files_"]),
        presence=_PRESENCE.decode(found["presence_"]),
    )
