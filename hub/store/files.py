"""Session files: one row per path, with the SHA-256 of the content."""

from __future__ import annotations

from hub.domain import FileEntry, FileInfo, file_hash
from hub.errors import HubError
from hub.store import Connection, row_to, rows_to

__all__ = ["get_file", "list_files", "write_file"]

INFO = "session_id, path, content_hash, size, last_editor, created_at, updated_at"
COLUMNS = INFO + ", content"


async def get_file(conn: Connection, session_id: str, path: str) -> FileEntry:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM files WHERE session_id = $1 AND path = $2", session_id, path
    )
    if row is None:
        raise HubError("not_found", f"no file {path!r} in this session")
    return row_to(row, FileEntry)


async def list_files(conn: Connection, session_id: str) -> list[FileInfo]:
    rows = await conn.fetch(
        f"SELECT {INFO} FROM files WHERE session_id = $1 ORDER BY path", session_id
    )
    return rows_to(rows, FileInfo)


async def write_file(
    conn: Connection,
    session_id: str,
    path: str,
    content: str,
    *,
    editor: str,
    expected_hash: str | None,
) -> FileEntry:
    """Create or overwrite a file. With `expected_hash`, write only over that content
    (`""`: only create); otherwise raise `conflict` carrying the current file info."""
    digest = file_hash(content)
    size = len(content.encode())
    args = (session_id, path, content, digest, size, editor)
    if expected_hash is None:
        query = f"""INSERT INTO files (session_id, path, content, content_hash, size, last_editor)
                    VALUES ($1, $2, $3, $4, $5, $6)
                    ON CONFLICT (session_id, path) DO UPDATE SET content = $3,
                        content_hash = $4, size = $5, last_editor = $6, updated_at = now()
                    RETURNING {COLUMNS}"""
        row = await conn.fetchrow(query, *args)
    elif expected_hash == "":
        row = await conn.fetchrow(
            f"""INSERT INTO files (session_id, path, content, content_hash, size, last_editor)
                VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id, path) DO NOTHING
                RETURNING {COLUMNS}""",
            *args,
        )
    else:
        row = await conn.fetchrow(
            f"""UPDATE files SET content = $3, content_hash = $4, size = $5, last_editor = $6,
                    updated_at = now()
                WHERE session_id = $1 AND path = $2 AND content_hash = $7 RETURNING {COLUMNS}""",
            *args,
            expected_hash,
        )
    if row is None:
        current = await conn.fetchrow(
            f"SELECT {INFO} FROM files WHERE session_id = $1 AND path = $2", session_id, path
        )
        raise HubError(
            "conflict",
            f"file {path!r} does not have the expected content hash",
            data=row_to(current, FileInfo) if current is not None else None,
        )
    return row_to(row, FileEntry)
