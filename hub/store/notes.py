"""Notes with optimistic locking: an edit names the version it was based on."""

from __future__ import annotations

from hub.domain import Note
from hub.errors import HubError
from hub.store import Connection, row_to, rows_to

__all__ = ["create_note", "get_note", "list_notes", "update_note"]

COLUMNS = "id, session_id, title, content, version, last_editor, created_at, updated_at"
SUMMARY = "id, title, version, char_length(content) AS size, last_editor, updated_at"


async def create_note(
    conn: Connection, session_id: str, title: str, content: str, editor: str
) -> Note:
    row = await conn.fetchrow(
        f"INSERT INTO notes (session_id, title, content, last_editor) VALUES ($1, $2, $3, $4)"
        f" RETURNING {COLUMNS}",
        session_id,
        title,
        content,
        editor,
    )
    assert row is not None
    return row_to(row, Note)


async def get_note(conn: Connection, session_id: str, note_id: int) -> Note:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM notes WHERE session_id = $1 AND id = $2", session_id, note_id
    )
    if row is None:
        raise HubError("not_found", f"no note {note_id} in this session")
    return row_to(row, Note)


async def list_notes(conn: Connection, session_id: str) -> list[Note]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM notes WHERE session_id = $1 ORDER BY id", session_id
    )
    return rows_to(rows, Note)


async def update_note(
    conn: Connection,
    session_id: str,
    note_id: int,
    *,
    content: str,
    title: str | None,
    expected_version: int,
    editor: str,
) -> Note:
    """Apply the edit only if the note is still at `expected_version`; otherwise raise
    `conflict` carrying the current note, so the editor can merge and retry."""
    row = await conn.fetchrow(
        f"""UPDATE notes SET content = $3, title = COALESCE($4, title), version = version + 1,
                last_editor = $5, updated_at = now()
            WHERE session_id = $1 AND id = $2 AND version = $6 RETURNING {COLUMNS}""",
        session_id,
        note_id,
        content,
        title,
        editor,
        expected_version,
    )
    if row is None:
        current = await get_note(conn, session_id, note_id)
        raise HubError(
            "conflict",
            f"note {note_id} is at version {current.version}, not {expected_version}",
            data=current,
        )
    return row_to(row, Note)
