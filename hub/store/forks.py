"""Forks: copying a session's history, notes and files as they stood after message N into
a new session, recording where it came from, and listing a session's forks.

`copy_state` is one statement, so everything it reads of the origin (its last message,
its messages, every note and file version) comes from one snapshot: a message, a note
edit or a file write on the origin commits wholly before it or wholly after it, never in
between. It takes no lock on the origin, so the origin's writers never wait for a fork
to copy. The state after message N is, per note and file, its latest version with
`at_message_id` <= N (`hub.store.notes`, `hub.store.files` say why that is exact); the
fork gets those, each with its versions up to it (same numbers, editors, times and
`at_message_id`), so its history reads as the origin's did at N.

Artifacts are copied the same way: each artifact of messages 1..N at its latest version
written by N (`hub.store.artifacts`), with new ids and its versions up to then. The
fork carries the uploads that its messages (`attachment_ids`) and its artifacts' versions
name (the rule of `hub.domain.artifacts.referenced_attachments`, in SQL: an image's
`attachment_id`, a 3D canvas's structures'), under the same ids, so the copied messages
and artifacts name them unchanged; their blobs are rows of the fork (counted in its
quota) whose bytes stay where they were stored (`attachment_blobs.stored_in`): nothing
is copied but rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from hub.domain import Fork, Role
from hub.store import Connection, rows_to

__all__ = [
    "Copied",
    "SlotProfile",
    "copy_state",
    "link_origin",
    "list_forks",
    "origin_space",
    "slot_profile",
]


class Copied(NamedTuple):
    """What `copy_state` saw of the origin: its last message then, whether it was
    deleted (nothing is copied then), and the message the fork was made at."""

    last_message_id: int
    deleted: bool
    at_message_id: int


_COPY = """
WITH origin AS (
    SELECT last_message_id AS last, deleted_at IS NOT NULL AS deleted, name_is_auto
      FROM sessions WHERE id = $1
),
point AS (
    SELECT LEAST(COALESCE($3::bigint, last), last) AS n FROM origin WHERE NOT deleted
),
copied_messages AS (
    INSERT INTO messages (session_id, id, author_id, author_role, content, msg_type, metadata,
                          parent_id, client_msg_id, token_count, attachments, attachment_ids,
                          created_at)
    SELECT $2, m.id, m.author_id, m.author_role, m.content, m.msg_type, m.metadata,
           m.parent_id, m.client_msg_id, m.token_count, m.attachments, m.attachment_ids,
           m.created_at
      FROM messages m, point
     WHERE m.session_id = $1 AND m.id <= point.n
),
note_heads AS (
    SELECT DISTINCT ON (v.note_id) v.note_id, v.version
      FROM note_versions v, point
     WHERE v.session_id = $1 AND v.at_message_id <= point.n
     ORDER BY v.note_id, v.version DESC
),
note_ids AS (
    SELECT note_id, version, nextval(pg_get_serial_sequence('notes', 'id')) AS new_id
      FROM note_heads
),
copied_notes AS (
    INSERT INTO notes (id, session_id, title, content, version, last_editor, created_at,
                       updated_at)
    OVERRIDING SYSTEM VALUE
    SELECT i.new_id, $2, v.title, v.content, v.version, v.editor, n.created_at, v.created_at
      FROM note_ids i
      JOIN note_versions v ON v.note_id = i.note_id AND v.version = i.version
      JOIN notes n ON n.id = i.note_id
),
copied_note_versions AS (
    INSERT INTO note_versions (session_id, note_id, version, title, content, size, editor,
                               at_message_id, created_at)
    SELECT $2, i.new_id, v.version, v.title, v.content, v.size, v.editor, v.at_message_id,
           v.created_at
      FROM note_ids i
      JOIN note_versions v
        ON v.session_id = $1 AND v.note_id = i.note_id AND v.version <= i.version
),
file_heads AS (
    SELECT DISTINCT ON (v.path) v.path, v.version
      FROM file_versions v, point
     WHERE v.session_id = $1 AND v.at_message_id <= point.n
     ORDER BY v.path, v.version DESC
),
copied_files AS (
    INSERT INTO files (session_id, path, content, content_hash, size, last_editor, version,
                       created_at, updated_at)
    SELECT $2, v.path, v.content, v.content_hash, v.size, v.editor, v.version, f.created_at,
           v.created_at
      FROM file_heads h
      JOIN file_versions v ON v.session_id = $1 AND v.path = h.path AND v.version = h.version
      JOIN files f ON f.session_id = $1 AND f.path = h.path
),
copied_file_versions AS (
    INSERT INTO file_versions (session_id, path, version, content, content_hash, size, editor,
                               at_message_id, created_at)
    SELECT $2, v.path, v.version, v.content, v.content_hash, v.size, v.editor,
           v.at_message_id, v.created_at
      FROM file_heads h
      JOIN file_versions v ON v.session_id = $1 AND v.path = h.path AND v.version <= h.version
),
artifact_heads AS (
    SELECT DISTINCT ON (v.artifact_id) v.artifact_id, v.version
      FROM artifacts a JOIN artifact_versions v ON v.artifact_id = a.id, point
     WHERE a.session_id = $1 AND a.message_id <= point.n
       AND COALESCE(v.at_message_id, a.message_id) <= point.n
     ORDER BY v.artifact_id, v.version DESC
),
artifact_ids AS (
    SELECT artifact_id, version, nextval(pg_get_serial_sequence('artifacts', 'id')) AS new_id
      FROM artifact_heads
),
copied_artifacts AS (
    INSERT INTO artifacts (id, session_id, message_id, kind, title, data, size, client_msg_id,
                           version, creator, last_editor, created_at, updated_at)
    OVERRIDING SYSTEM VALUE
    SELECT i.new_id, $2, a.message_id, a.kind, v.title, v.data,
           COALESCE(v.size, octet_length(v.data::text)), a.client_msg_id, v.version,
           a.creator, v.editor, a.created_at, v.created_at
      FROM artifact_ids i
      JOIN artifacts a ON a.id = i.artifact_id
      JOIN artifact_versions v ON v.artifact_id = i.artifact_id AND v.version = i.version
),
artifact_history AS (
    SELECT i.new_id, v.*
      FROM artifact_ids i
      JOIN artifact_versions v ON v.artifact_id = i.artifact_id AND v.version <= i.version
),
copied_artifact_versions AS (
    INSERT INTO artifact_versions (artifact_id, version, title, data, editor, created_at,
                                   at_message_id, size)
    SELECT new_id, version, title, data, editor, created_at, at_message_id, size
      FROM artifact_history
),
named_uploads AS (
    SELECT u.id FROM messages m, point, unnest(m.attachment_ids) AS u(id)
     WHERE m.session_id = $1 AND m.id <= point.n
    UNION
    SELECT data->>'attachment_id' FROM artifact_history WHERE data->>'kind' = 'image'
    UNION
    SELECT st->>'attachment_id'
      FROM artifact_history, jsonb_array_elements(data->'structures') AS st
     WHERE data->>'kind' = 'canvas3d'
),
uploads AS (
    SELECT a.* FROM attachments a
     WHERE a.session_id = $1 AND a.id IN (SELECT id FROM named_uploads)
),
copied_blobs AS (
    INSERT INTO attachment_blobs (session_id, sha256, size, thumbnail, created_at, stored_in)
    SELECT $2, b.sha256, b.size, b.thumbnail, b.created_at, COALESCE(b.stored_in, b.session_id)
      FROM attachment_blobs b
     WHERE b.session_id = $1 AND b.sha256 IN (SELECT sha256 FROM uploads)
    RETURNING size
),
copied_uploads AS (
    INSERT INTO attachments (id, session_id, sha256, name, content_type, size, uploader,
                             uploader_role, created_at)
    SELECT id, $2, sha256, name, content_type, size, uploader, uploader_role, created_at
      FROM uploads
),
charged AS (
    INSERT INTO attachment_usage (session_id, bytes)
    SELECT $2, sum(size) FROM copied_blobs HAVING count(*) > 0
),
advanced AS (
    UPDATE sessions SET last_message_id = point.n,
           name_is_auto = sessions.name_is_auto AND origin.name_is_auto
      FROM point, origin WHERE sessions.id = $2
)
SELECT origin.last, origin.deleted, point.n
  FROM origin LEFT JOIN point ON true
"""


async def copy_state(
    conn: Connection, origin_id: str, fork_id: str, at_message_id: int | None
) -> Copied:
    """Copy into the (new, empty) session `fork_id` the origin's messages 1..N and its
    notes and files as they stood after message N, with their versions up to then; N is
    `at_message_id`, or the origin's last message if None (capped at the last: the
    caller refuses more, see `hub.domain.fork_point`). The fork's `last_message_id`
    becomes N, and its name is renamed by its first chat message only if it was given
    none and the origin's still would be. Its note ids are new, its message ids the
    origin's."""
    row = await conn.fetchrow(_COPY, origin_id, fork_id, at_message_id)
    assert row is not None, "the caller read the origin"
    return Copied(int(row["last"]), bool(row["deleted"]), int(row["n"] or 0))


async def origin_space(conn: Connection, origin_id: str) -> str | None:
    """The space the origin is in now (read it once its row is locked: `link_origin`)."""
    space_id: str | None = await conn.fetchval(
        "SELECT workspace_id FROM sessions WHERE id = $1", origin_id
    )
    return space_id


async def link_origin(conn: Connection, fork_id: str, origin_id: str, at_message_id: int) -> None:
    """Record where the fork came from (after `copy_state`: the schema holds the message
    within the fork's own log). The reference locks the origin's row (FOR KEY SHARE)
    until the transaction ends: what locks it FOR UPDATE (sending a message, deleting,
    moving it) waits for that short rest of the fork, never for the copy."""
    await conn.execute(
        "UPDATE sessions SET forked_from_id = $2, forked_at_message_id = $3 WHERE id = $1",
        fork_id,
        origin_id,
        at_message_id,
    )


class SlotProfile(NamedTuple):
    """The verified agent profile in a session's slot, and what it is now."""

    profile_id: str
    slug: str
    owner_id: str
    revision: int
    """The profile's current configuration revision."""


async def slot_profile(conn: Connection, session_id: str, role: Role) -> SlotProfile | None:
    """The profile agent A or agent B of the session was verified as; None if the slot
    holds an unverified agent (or is an observer's)."""
    if role == "observer":
        return None
    column = "agent_a_profile_id" if role == "agent_a" else "agent_b_profile_id"
    row = await conn.fetchrow(
        f"""SELECT p.id, p.slug, p.user_id, p.current_revision
              FROM sessions s JOIN agent_profiles p ON p.id = s.{column}
             WHERE s.id = $1""",
        session_id,
    )
    if row is None:
        return None
    return SlotProfile(row["id"], row["slug"], row["user_id"], row["current_revision"])


async def list_forks(
    conn: Connection, session_id: str, limit: int, before: tuple[datetime, str] | None
) -> list[Fork]:
    """The session's forks (not deleted), newest first, before the cursor (created, id)."""
    rows = await conn.fetch(
        """SELECT id, name, forked_at_message_id AS at_message_id, created_at FROM sessions
            WHERE forked_from_id = $1 AND deleted_at IS NULL
              AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
            ORDER BY created_at DESC, id DESC LIMIT $2""",
        session_id,
        limit,
        None if before is None else before[0],
        None if before is None else before[1],
    )
    return rows_to(rows, Fork)
