"""Session files: one row per path, with the SHA-256 of the content and a version
(1 when created, one more on every write).

Every write also writes the file's version row (`file_versions`) in the same statement,
tied to the session's `last_message_id` as that statement reads it: a version written
while message m was the session's last message belongs to the state after message m.
The writer holds the session row (`sessions.hold_for_write`, FOR SHARE) before that
statement, and a message commits only by updating that row, so no message commits
between the read and the file's commit: the tie is exact. `files_at` reads the files as
they stood after a message.
"""

from __future__ import annotations

from hub.domain import FileEntry, FileInfo, FileVersion, FileVersionInfo, file_hash
from hub.errors import HubError
from hub.store import Connection, row_to, rows_to

__all__ = [
    "files_at",
    "get_file",
    "get_file_version",
    "list_file_versions",
    "list_files",
    "write_file",
]

INFO = "session_id, path, content_hash, size, version, last_editor, created_at, updated_at"
COLUMNS = INFO + ", content"
VERSION_INFO = "session_id, path, version, content_hash, size, editor, at_message_id, created_at"
VERSION = VERSION_INFO + ", content"

# Wraps the statement that wrote the file (returning COLUMNS) with its version row, at
# the session's last message as this statement reads it.
_WITH_VERSION = """WITH changed AS ({write} RETURNING {columns}),
    version_row AS (
        INSERT INTO file_versions
            (session_id, path, version, content, content_hash, size, editor, at_message_id,
             created_at)
        SELECT c.session_id, c.path, c.version, c.content, c.content_hash, c.size,
               c.last_editor, s.last_message_id, c.updated_at
          FROM changed c JOIN sessions s ON s.id = c.session_id
    )
    SELECT * FROM changed"""
_INSERT = """INSERT INTO files (session_id, path, content, content_hash, size, last_editor)
             VALUES ($1, $2, $3, $4, $5, $6)"""


def _versioned(write: str) -> str:
    return _WITH_VERSION.format(write=write, columns=COLUMNS)


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
    """Create or overwrite a file, writing its new version's row. With `expected_hash`,
    write only over that content (`""`: only create); otherwise raise `conflict` carrying
    the current file info."""
    digest = file_hash(content)
    size = len(content.encode())
    args = (session_id, path, content, digest, size, editor)
    if expected_hash is None:
        query = _versioned(
            _INSERT
            + """ ON CONFLICT (session_id, path) DO UPDATE SET content = $3,
                content_hash = $4, size = $5, version = files.version + 1, last_editor = $6,
                updated_at = now()"""
        )
        row = await conn.fetchrow(query, *args)
    elif expected_hash == "":
        row = await conn.fetchrow(
            _versioned(_INSERT + " ON CONFLICT (session_id, path) DO NOTHING"), *args
        )
    else:
        row = await conn.fetchrow(
            _versioned(
                """UPDATE files SET content = $3, content_hash = $4, size = $5,
                       version = version + 1, last_editor = $6, updated_at = now()
                   WHERE session_id = $1 AND path = $2 AND content_hash = $7"""
            ),
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


async def list_file_versions(
    conn: Connection, session_id: str, path: str, *, before: int | None, limit: int
) -> list[FileVersionInfo]:
    """A file's versions below `before` (all if None), newest first, without content;
    `not_found` if the session has no such file."""
    rows = await conn.fetch(
        f"""SELECT {VERSION_INFO} FROM file_versions
            WHERE session_id = $1 AND path = $2 AND ($3::integer IS NULL OR version < $3)
            ORDER BY version DESC LIMIT $4""",
        session_id,
        path,
        before,
        limit,
    )
    if not rows:
        await get_file(conn, session_id, path)
    return rows_to(rows, FileVersionInfo)


async def get_file_version(
    conn: Connection, session_id: str, path: str, version: int
) -> FileVersion:
    """One version of a file, with its content; `not_found` if there is none."""
    row = await conn.fetchrow(
        f"""SELECT {VERSION} FROM file_versions
            WHERE session_id = $1 AND path = $2 AND version = $3""",
        session_id,
        path,
        version,
    )
    if row is None:
        raise HubError("not_found", f"no version {version} of file {path!r} in this session")
    return row_to(row, FileVersion)


async def files_at(conn: Connection, session_id: str, message_id: int) -> list[FileVersion]:
    """The session's files as they stood after message `message_id`: for each path, its
    latest version with `at_message_id <= message_id` (files created later are left out),
    in path order."""
    rows = await conn.fetch(
        f"""SELECT DISTINCT ON (path) {VERSION} FROM file_versions
            WHERE session_id = $1 AND at_message_id <= $2
            ORDER BY path, version DESC""",
        session_id,
        message_id,
    )
    return rows_to(rows, FileVersion)
