"""Attachments: the uploads of a session (`attachments`), the blobs they name
(`attachment_blobs`, one per session and SHA-256) and each session's quota usage
(`attachment_usage`). The bytes are the `BlobStore`'s (hub.store.blobs)."""

from __future__ import annotations

from hub.domain import Attachment
from hub.errors import HubError
from hub.store import Connection, row_to, rows_to

__all__ = [
    "SELECT",
    "BlobState",
    "blob_home",
    "blob_state",
    "charge",
    "check_session_uploads",
    "get_attachment",
    "insert_attachment",
    "insert_blob",
    "list_attachments",
    "present_attachments",
    "thumbnail",
]

SELECT = """SELECT a.id, a.session_id, a.name, a.content_type, a.size, a.sha256, a.uploader,
       a.uploader_role, b.thumbnail IS NOT NULL AS thumbnail, a.created_at
  FROM attachments a
  JOIN attachment_blobs b ON b.session_id = a.session_id AND b.sha256 = a.sha256"""


class BlobState:
    """What a session holds before an upload: its usage, and whether the blob exists."""

    __slots__ = ("exists", "used")

    def __init__(self, used: int, exists: bool) -> None:
        self.used = used
        self.exists = exists


async def blob_state(conn: Connection, session_id: str, sha256: str) -> BlobState:
    row = await conn.fetchrow(
        """SELECT coalesce((SELECT bytes FROM attachment_usage WHERE session_id = $1), 0) AS used,
                  EXISTS (SELECT 1 FROM attachment_blobs WHERE session_id = $1 AND sha256 = $2)
                      AS exists""",
        session_id,
        sha256,
    )
    assert row is not None
    return BlobState(row["used"], row["exists"])


async def blob_home(conn: Connection, session_id: str, sha256: str) -> str:
    """The session whose stored bytes are the session's blob `sha256`: its own, or (a
    fork's copy) the session where they were first stored."""
    home: str | None = await conn.fetchval(
        """SELECT COALESCE(stored_in, session_id) FROM attachment_blobs
            WHERE session_id = $1 AND sha256 = $2""",
        session_id,
        sha256,
    )
    if home is None:
        raise HubError("not_found", f"no blob {sha256} in this session")
    return home


async def insert_blob(
    conn: Connection, session_id: str, sha256: str, size: int, thumbnail: bytes | None
) -> bool:
    """Record the blob; False if the session has it already (then nothing is written).
    A concurrent insert of the same blob waits for the other's transaction to end."""
    inserted = await conn.fetchval(
        """INSERT INTO attachment_blobs (session_id, sha256, size, thumbnail)
           VALUES ($1, $2, $3, $4) ON CONFLICT (session_id, sha256) DO NOTHING RETURNING true""",
        session_id,
        sha256,
        size,
        thumbnail,
    )
    return bool(inserted)


async def charge(conn: Connection, session_id: str, size: int, quota: int) -> int | None:
    """Add `size` bytes to the session's usage if it stays within `quota`: the new usage,
    or None (nothing changed). The row lock orders concurrent charges: each sees the
    usage the one before committed, so together they never pass the quota."""
    if size > quota:
        return None
    used: int | None = await conn.fetchval(
        """INSERT INTO attachment_usage AS u (session_id, bytes) VALUES ($1, $2)
           ON CONFLICT (session_id) DO UPDATE SET bytes = u.bytes + excluded.bytes
               WHERE u.bytes + excluded.bytes <= $3
           RETURNING bytes""",
        session_id,
        size,
        quota,
    )
    return used


async def insert_attachment(
    conn: Connection,
    *,
    attachment_id: str,
    session_id: str,
    sha256: str,
    name: str,
    content_type: str,
    size: int,
    uploader: str,
    uploader_role: str,
) -> Attachment:
    await conn.execute(
        """INSERT INTO attachments
               (id, session_id, sha256, name, content_type, size, uploader, uploader_role)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        attachment_id,
        session_id,
        sha256,
        name,
        content_type,
        size,
        uploader,
        uploader_role,
    )
    return await get_attachment(conn, session_id, attachment_id)


async def get_attachment(conn: Connection, session_id: str, attachment_id: str) -> Attachment:
    """One upload of the session; `not_found` for any other id (another session's too)."""
    row = await conn.fetchrow(
        SELECT + " WHERE a.id = $1 AND a.session_id = $2", attachment_id, session_id
    )
    if row is None:
        raise HubError("not_found", f"no attachment {attachment_id[:40]!r} in this session")
    return row_to(row, Attachment)


async def list_attachments(
    conn: Connection, session_id: str, *, after: str | None, limit: int
) -> list[Attachment]:
    """The session's uploads, oldest first, the first `limit` after the upload `after`."""
    rows = await conn.fetch(
        SELECT
        + """ WHERE a.session_id = $1 AND ($2::text IS NULL OR (a.created_at, a.id) >
                  (SELECT created_at, id FROM attachments WHERE id = $2 AND session_id = $1))
              ORDER BY a.created_at, a.id LIMIT $3""",
        session_id,
        after,
        limit,
    )
    return rows_to(rows, Attachment)


async def thumbnail(conn: Connection, session_id: str, attachment_id: str) -> bytes | None:
    """The thumbnail of an upload (None: it has none); `not_found` for an unknown id."""
    row = await conn.fetchrow(
        """SELECT b.thumbnail FROM attachments a
           JOIN attachment_blobs b ON b.session_id = a.session_id AND b.sha256 = a.sha256
           WHERE a.id = $1 AND a.session_id = $2""",
        attachment_id,
        session_id,
    )
    if row is None:
        raise HubError("not_found", f"no attachment {attachment_id[:40]!r} in this session")
    data: bytes | None = row["thumbnail"]
    return data


async def present_attachments(
    conn: Connection, pairs: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of the (session id, attachment id) pairs are uploads of that session."""
    if not pairs:
        return set()
    rows = await conn.fetch(
        "SELECT a.session_id, a.id FROM unnest($1::text[], $2::text[]) AS w(sid, aid)"
        " JOIN attachments a ON a.id = w.aid AND a.session_id = w.sid",
        [s for s, _ in pairs],
        [a for _, a in pairs],
    )
    return {(r["session_id"], r["id"]) for r in rows}


async def check_session_uploads(
    conn: Connection, session_id: str, ids: list[str], refusal: str
) -> None:
    """Refuse (`bad_request`: `refusal` and the first ids missing) unless every id names
    an upload of the session (uploads are never deleted, so the check stays true)."""
    if not ids:
        return
    found = await conn.fetch(
        "SELECT id FROM attachments WHERE session_id = $1 AND id = ANY($2::text[])",
        session_id,
        ids,
    )
    missing = set(ids) - {r["id"] for r in found}
    if missing:
        raise HubError("bad_request", f"{refusal}: " + ", ".join(sorted(missing)[:5]))
