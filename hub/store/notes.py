"""Notes with optimistic locking: an edit names the version it was based on.

Every accepted create and edit also writes the note's version row (`note_versions`) in
the same statement, tied to the session's `last_message_id` as that statement reads it:
a version written while message m was the session's last message belongs to the state
after message m. The writer holds the session row (`sessions.hold_for_write`, FOR SHARE)
before that statement, and a message commits only by updating that row, so no message
commits between the read and the note's commit: the tie is exact. `notes_at` reads the
notes as they stood after a message.
"""

from __future__ import annotations

from hub.domain import Note, NoteVersion, NoteVersionInfo
from hub.errors import HubError
from hub.store import Connection, row_to, rows_to

__all__ = [
    "create_note",
    "get_note",
    "get_note_version",
    "list_note_versions",
    "list_notes",
    "notes_at",
    "update_note",
]

COLUMNS = "id, session_id, title, content, version, last_editor, created_at, updated_at"
SUMMARY = "id, title, version, char_length(content) AS size, last_editor, updated_at"
VERSION_INFO = "session_id, note_id, version, title, editor, at_message_id, created_at, size"
VERSION = VERSION_INFO + ", content"

# Appended to the statement that changed the note (the CTE `changed`, returning COLUMNS):
# its version row, at the session's last message as this statement reads it.
_WITH_VERSION = """,
    version_row AS (
        INSERT INTO note_versions
            (session_id, note_id, version, title, content, size, editor, at_message_id,
             created_at)
        SELECT c.session_id, c.id, c.version, c.title, c.content, char_length(c.content),
               c.last_editor, s.last_message_id, c.updated_at
          FROM changed c JOIN sessions s ON s.id = c.session_id
    )
    SELECT * FROM changed"""


async def create_note(
    conn: Connection, session_id: str, title: str, content: str, editor: str
) -> Note:
    """Create the note at version 1, and its version 1 row."""
    row = await conn.fetchrow(
        f"""WITH changed AS (
                INSERT INTO notes (session_id, title, content, last_editor)
                VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}
            ){_WITH_VERSION}""",
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
    """Apply the edit only if the note is still at `expected_version` (writing the new
    version's row); otherwise raise `conflict` carrying the current note, so the editor
    can merge and retry. Of concurrent edits at one version, exactly one is applied."""
    row = await conn.fetchrow(
        f"""WITH changed AS (
                UPDATE notes SET content = $3, title = COALESCE($4, title),
                    version = version + 1, last_editor = $5, updated_at = now()
                WHERE session_id = $1 AND id = $2 AND version = $6 RETURNING {COLUMNS}
            ){_WITH_VERSION}""",
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


async def list_note_versions(
    conn: Connection, session_id: str, note_id: int, *, before: int | None, limit: int
) -> list[NoteVersionInfo]:
    """A note's versions below `before` (all if None), newest first, without content;
    `not_found` if the session has no such note."""
    rows = await conn.fetch(
        f"""SELECT {VERSION_INFO} FROM note_versions
            WHERE session_id = $1 AND note_id = $2 AND ($3::integer IS NULL OR version < $3)
            ORDER BY version DESC LIMIT $4""",
        session_id,
        note_id,
        before,
        limit,
    )
    if not rows:
        await get_note(conn, session_id, note_id)
    return rows_to(rows, NoteVersionInfo)


async def get_note_version(
    conn: Connection, session_id: str, note_id: int, version: int
) -> NoteVersion:
    """One version of a note, with its content; `not_found` if there is none."""
    row = await conn.fetchrow(
        f"""SELECT {VERSION} FROM note_versions
            WHERE session_id = $1 AND note_id = $2 AND version = $3""",
        session_id,
        note_id,
        version,
    )
    if row is None:
        raise HubError("not_found", f"no version {version} of note {note_id} in this session")
    return row_to(row, NoteVersion)


async def notes_at(conn: Connection, session_id: str, message_id: int) -> list[NoteVersion]:
    """The session's notes as they stood after message `message_id`: for each note, its
    latest version with `at_message_id <= message_id` (notes created later are left
    out), in note id order."""
    rows = await conn.fetch(
        f"""SELECT DISTINCT ON (note_id) {VERSION} FROM note_versions
            WHERE session_id = $1 AND at_message_id <= $2
            ORDER BY note_id, version DESC""",
        session_id,
        message_id,
    )
    return rows_to(rows, NoteVersion)
