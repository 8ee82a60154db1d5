"""Artifacts with optimistic locking: an update names the version it was based on; every
accepted create and update writes its `artifact_versions` row in the same statement.

An artifact's message is checked in the statement that inserts it: a message of the
session exists exactly when its id is at most the session's `last_message_id` (message
ids are gap-free and never deleted). The attachments it references are checked in the
writer's transaction (attachments are never deleted either, so the check stays true).
"""

from __future__ import annotations

import asyncpg
import msgspec

from hub.domain import Artifact, ArtifactData, ArtifactVersion, ArtifactVersionInfo
from hub.domain.artifacts import encoded_size, kind_of
from hub.errors import HubError
from hub.store import Connection, row_to, rows_to

__all__ = [
    "create_artifact",
    "get_artifact",
    "get_artifact_version",
    "list_artifact_versions",
    "list_artifacts",
    "made_with_message",
    "update_artifact",
]

COLUMNS = (
    "id, session_id, message_id, kind, title, data, size, version, creator, last_editor,"
    " created_at, updated_at"
)
VERSION_INFO = "v.artifact_id, v.version, v.title, v.editor, v.created_at, v.at_message_id"

# Appended to the statement that changed the artifact (the CTE `changed`): its version row,
# at the session's last message as this statement reads it (the writer holds the session
# row, `sessions.hold_for_write`, so no message commits in between: the tie is exact, as
# for notes).
_WITH_VERSION = """,
    version_row AS (
        INSERT INTO artifact_versions
            (artifact_id, version, title, data, editor, created_at, at_message_id, size)
        SELECT c.id, c.version, c.title, c.data, c.last_editor, c.updated_at,
               s.last_message_id, c.size
          FROM changed c JOIN sessions s ON s.id = c.session_id
    )
    SELECT * FROM changed"""


async def create_artifact(
    conn: Connection,
    session_id: str,
    *,
    message_id: int,
    title: str,
    data: ArtifactData,
    creator: str,
    client_msg_id: str | None = None,
) -> Artifact | None:
    """Create the artifact at version 1 (and its version row) on message `message_id`;
    `bad_request` if the session has no such message. With `client_msg_id` (created
    with its message): None if the message has such an artifact already (nothing is
    written; `made_with_message` finds it)."""
    row = await conn.fetchrow(
        f"""WITH changed AS (
                INSERT INTO artifacts (session_id, message_id, kind, title, data, size,
                                       client_msg_id, creator, last_editor)
                SELECT $1, $2, $3, $4, $5, $6, $7, $8, $8 FROM sessions
                 WHERE id = $1 AND last_message_id >= $2
                ON CONFLICT (session_id, message_id) WHERE client_msg_id IS NOT NULL
                    DO NOTHING
                RETURNING {COLUMNS}
            ){_WITH_VERSION}""",
        session_id,
        message_id,
        kind_of(data),
        title,
        data,
        encoded_size(data),
        client_msg_id,
        creator,
    )
    if row is not None:
        return row_to(row, Artifact)
    if client_msg_id is not None and await made_with_message(conn, session_id, message_id):
        return None
    raise HubError("bad_request", f"no message {message_id} in this session")


async def made_with_message(conn: Connection, session_id: str, message_id: int) -> Artifact | None:
    """The artifact created together with message `message_id`, if any."""
    row = await conn.fetchrow(
        f"""SELECT {COLUMNS} FROM artifacts
            WHERE session_id = $1 AND message_id = $2 AND client_msg_id IS NOT NULL""",
        session_id,
        message_id,
    )
    return None if row is None else row_to(row, Artifact)


async def get_artifact(conn: Connection, session_id: str, artifact_id: int) -> Artifact:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM artifacts WHERE session_id = $1 AND id = $2",
        session_id,
        artifact_id,
    )
    if row is None:
        raise HubError("not_found", f"no artifact {artifact_id} in this session")
    return row_to(row, Artifact)


async def list_artifacts(
    conn: Connection,
    session_id: str,
    *,
    kind: str | None,
    message_id: int | None,
    before: int | None,
    limit: int,
    max_bytes: int,
) -> tuple[list[Artifact], bool]:
    """The session's artifacts (of one kind, or of one message, if given) with ids below
    `before` (all if None), newest first: at most `limit`, and no more than fit in
    `max_bytes` of data (at least one); and whether there may be more."""
    rows = await conn.fetch(
        f"""SELECT {COLUMNS}, fetched FROM (
                SELECT *, sum(size) OVER (ORDER BY id DESC) AS running,
                       row_number() OVER (ORDER BY id DESC) AS n, count(*) OVER () AS fetched
                  FROM (SELECT {COLUMNS} FROM artifacts
                         WHERE session_id = $1 AND ($2::text IS NULL OR kind = $2)
                           AND ($3::bigint IS NULL OR message_id = $3)
                           AND ($4::bigint IS NULL OR id < $4)
                         ORDER BY id DESC LIMIT $5) page
            ) counted
            WHERE running <= $6 OR n = 1
            ORDER BY id DESC""",
        session_id,
        kind,
        message_id,
        before,
        limit,
        max_bytes,
    )
    fetched = rows[0]["fetched"] if rows else 0
    found = [_artifact(r) for r in rows]
    return found, fetched == limit or len(found) < fetched


def _artifact(record: asyncpg.Record) -> Artifact:
    fields = dict(record.items())
    fields.pop("fetched", None)
    return msgspec.convert(fields, Artifact)


async def update_artifact(
    conn: Connection,
    session_id: str,
    artifact_id: int,
    *,
    title: str | None,
    data: ArtifactData,
    expected_version: int,
    editor: str,
) -> Artifact:
    """Apply the update only if the artifact is still at `expected_version` and keeps its
    kind; otherwise raise `conflict` carrying the current artifact (or `bad_request` for
    another kind). Of concurrent updates at one version, exactly one is applied: the row
    lock makes the others re-read a version that no longer matches."""
    kind = kind_of(data)
    row = await conn.fetchrow(
        f"""WITH changed AS (
                UPDATE artifacts SET data = $3, title = COALESCE($4, title), size = $8,
                    version = version + 1, last_editor = $5, updated_at = now()
                WHERE session_id = $1 AND id = $2 AND version = $6 AND kind = $7
                RETURNING {COLUMNS}
            ){_WITH_VERSION}""",
        session_id,
        artifact_id,
        data,
        title,
        editor,
        expected_version,
        kind,
        encoded_size(data),
    )
    if row is None:
        current = await get_artifact(conn, session_id, artifact_id)
        if current.kind != kind:
            raise HubError(
                "bad_request", f"artifact {artifact_id} is a {current.kind}, not a {kind}"
            )
        raise HubError(
            "conflict",
            f"artifact {artifact_id} is at version {current.version}, not {expected_version}",
            data=current,
        )
    return row_to(row, Artifact)


async def list_artifact_versions(
    conn: Connection, session_id: str, artifact_id: int, *, before: int | None, limit: int
) -> list[ArtifactVersionInfo]:
    """An artifact's versions below `before` (all if None), newest first, without data;
    `not_found` if the session has no such artifact."""
    rows = await conn.fetch(
        f"""SELECT {VERSION_INFO} FROM artifact_versions v
            WHERE artifact_id = $2 AND ($3::integer IS NULL OR version < $3)
              AND EXISTS (SELECT 1 FROM artifacts a WHERE a.id = $2 AND a.session_id = $1)
            ORDER BY version DESC LIMIT $4""",
        session_id,
        artifact_id,
        before,
        limit,
    )
    if not rows:
        await get_artifact(conn, session_id, artifact_id)
    return rows_to(rows, ArtifactVersionInfo)


async def get_artifact_version(
    conn: Connection, session_id: str, artifact_id: int, version: int
) -> ArtifactVersion:
    """One version of an artifact, with its data; `not_found` if there is none."""
    row = await conn.fetchrow(
        f"""SELECT {VERSION_INFO}, v.data FROM artifact_versions v
            JOIN artifacts a ON a.id = v.artifact_id
            WHERE a.session_id = $1 AND v.artifact_id = $2 AND v.version = $3""",
        session_id,
        artifact_id,
        version,
    )
    if row is None:
        raise HubError(
            "not_found", f"no version {version} of artifact {artifact_id} in this session"
        )
    return row_to(row, ArtifactVersion)
