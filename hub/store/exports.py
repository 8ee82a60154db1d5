"""What an export reads: a session's rows, section by section, through server-side
cursors a batch at a time, inside the caller's snapshot transaction (`Store.snapshot`),
so the whole export is one consistent state however long it streams and however many
rows there are.

Batches are sized by what a row may weigh: a message holds at most 64 000 characters and
16 KiB of metadata, a note version 200 000 characters, a file version 512 000, an
artifact (or artifact version) 512 000 bytes of data, so a
batch stays within tens of megabytes even at the limits, and is far smaller as a rule.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from hub.domain import (
    Activity,
    Artifact,
    ArtifactVersion,
    Attachment,
    FileEntry,
    FileVersion,
    Message,
    Note,
    NoteVersion,
)
from hub.domain.exports import Participant, Section
from hub.store import Connection, rows_to
from hub.store import activity as activity_store
from hub.store import artifacts as artifact_store
from hub.store import attachments as attachment_store
from hub.store import files as file_store
from hub.store import messages as message_store
from hub.store import notes as note_store

__all__ = ["APPLICATION_NAME", "BATCHES", "begin_export", "participants", "section_rows"]

APPLICATION_NAME = "hub export"
"""How an export's connection shows in `pg_stat_activity` while it runs."""

_SECTIONS: dict[Section, tuple[str, type[Any]]] = {
    "messages": (
        f"SELECT {message_store.COLUMNS} FROM messages WHERE session_id = $1 ORDER BY id",
        Message,
    ),
    "notes": (f"SELECT {note_store.COLUMNS} FROM notes WHERE session_id = $1 ORDER BY id", Note),
    "note_versions": (
        f"SELECT {note_store.VERSION} FROM note_versions WHERE session_id = $1"
        " ORDER BY note_id, version",
        NoteVersion,
    ),
    "files": (
        f"SELECT {file_store.COLUMNS} FROM files WHERE session_id = $1 ORDER BY path",
        FileEntry,
    ),
    "file_versions": (
        f"SELECT {file_store.VERSION} FROM file_versions WHERE session_id = $1"
        " ORDER BY path, version",
        FileVersion,
    ),
    "attachments": (
        f"{attachment_store.SELECT} WHERE a.session_id = $1 ORDER BY a.created_at, a.id",
        Attachment,
    ),
    "artifacts": (
        f"SELECT {artifact_store.COLUMNS} FROM artifacts WHERE session_id = $1 ORDER BY id",
        Artifact,
    ),
    "artifact_versions": (
        f"SELECT {artifact_store.VERSION_INFO}, v.data FROM artifact_versions v"
        " JOIN artifacts a ON a.id = v.artifact_id WHERE a.session_id = $1"
        " ORDER BY v.artifact_id, v.version",
        ArtifactVersion,
    ),
    "activity": (
        f"SELECT {activity_store.COLUMNS} FROM activity WHERE session_id = $1 ORDER BY id",
        Activity,
    ),
}

BATCHES: dict[Section, int] = {
    "messages": 200,
    "notes": 16,
    "note_versions": 16,
    "files": 8,
    "file_versions": 8,
    "attachments": 500,
    "artifacts": 8,
    "artifact_versions": 8,
    "activity": 500,
}
"""Rows read per round trip, per section."""


async def begin_export(conn: Connection, seconds: float) -> None:
    """Name the export's connection, and let its transaction sit idle (while a slow
    reader drains what was sent) for as long as the export may last; both end with the
    transaction."""
    await conn.execute(
        f"SET LOCAL idle_in_transaction_session_timeout = {max(1, int(seconds * 1000))};"
        f" SET LOCAL application_name = '{APPLICATION_NAME}'"
    )


async def participants(conn: Connection, session_id: str) -> list[Participant]:
    """Everyone who held a token of the session, by participant id, with the name they
    gave first."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (participant_id) participant_id, role, display_name
           FROM tokens WHERE session_id = $1
           ORDER BY participant_id, display_name IS NULL, created_at""",
        session_id,
    )
    return rows_to(rows, Participant)


async def section_rows(
    conn: Connection, section: Section, session_id: str
) -> AsyncIterator[list[Any]]:
    """The section's rows in order, `BATCHES[section]` at a time, through a server-side
    cursor (the caller is inside a transaction)."""
    sql, type_ = _SECTIONS[section]
    size = BATCHES[section]
    cursor = await conn.cursor(sql, session_id)
    while True:
        rows = await cursor.fetch(size)
        if rows:
            yield rows_to(rows, type_)
        if len(rows) < size:
            return
