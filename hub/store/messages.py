"""Messages: the row types of the log and its keyset-paginated reads.

A batch may hold messages of many sessions. Per session its writes take the session row
lock first, so ids are allocated in commit order with no gap (a rolled-back batch rolls
back its counter too), and an author's `client_msg_id` seen before, in the database or
earlier in the batch, yields the original message instead of a second one.
`hub.store.message_fresh.insert_fresh` commits the common case in one statement;
`hub.store.message_batch.insert_batch`, inside the caller's transaction, decides every
case item by item.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hub.domain import Message
from hub.errors import HubError
from hub.store import Connection, rows_to

__all__ = ["COLUMNS", "BatchOutcome", "NewMessage", "by_client_msg_id", "list_messages"]

COLUMNS = (
    "id, session_id, author_id, author_role, content, msg_type, metadata, parent_id,"
    " client_msg_id, token_count, attachments, created_at,"
    " coalesce(attachment_ids, '{}') AS attachment_ids"
)


class NewMessage(msgspec.Struct, kw_only=True):
    """A message to insert; the id is assigned at commit."""

    session_id: str
    author_id: str
    author_role: str
    content: str
    msg_type: str = "chat"
    metadata: dict[str, Any] = {}
    parent_id: int | None = None
    client_msg_id: str | None = None
    token_count: int | None = None
    attachments: list[str] = []
    attachment_ids: list[str] | msgspec.UnsetType = msgspec.UNSET
    """Uploaded attachments (unset: none, and then the message travels to PostgreSQL
    exactly as it did before attachments existed)."""


class BatchOutcome(msgspec.Struct):
    """Per input, in input order: (message, duplicate) or the error that refused it;
    plus each session renamed by its first chat message, as (session_id, new name)."""

    results: list[tuple[Message, bool] | HubError]
    renamed: list[tuple[str, str]]


# What a message weighs towards a page's byte budget: its content and metadata.
_WEIGHT = "octet_length(content) + octet_length(metadata::text)"


async def list_messages(
    conn: Connection,
    session_id: str,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = 100,
    max_bytes: int | None = None,
) -> list[Message]:
    """Messages in id order: the first `limit` after `after`, or with only `before`
    given, the last `limit` before it (keyset pagination both ways). With `max_bytes`,
    the page also stops once its messages' content and metadata reach that many bytes
    (it always holds at least one message, if there is one)."""
    backwards = before is not None and after is None
    if backwards:
        where, order = "session_id = $1 AND id < $2", "id DESC"
        args: list[object] = [session_id, before, limit]
    else:
        where, order = "session_id = $1 AND id > $2 AND ($3::bigint IS NULL OR id < $3)", "id"
        args = [session_id, after or 0, before, limit]
    limit_arg = f"${len(args)}"
    if max_bytes is None:
        sql = f"SELECT {COLUMNS} FROM messages WHERE {where} ORDER BY {order} LIMIT {limit_arg}"
    else:
        args.append(max_bytes)
        sql = (
            f"SELECT {COLUMNS} FROM (SELECT {COLUMNS}, {_WEIGHT} AS weight,"
            f" sum({_WEIGHT}) OVER (ORDER BY {order}) AS upto"
            f" FROM messages WHERE {where} ORDER BY {order} LIMIT {limit_arg}) page"
            f" WHERE upto - weight < ${len(args)} ORDER BY {order}"
        )
    rows = await conn.fetch(sql, *args)
    return rows_to(list(reversed(rows)) if backwards else rows, Message)


async def by_client_msg_id(
    conn: Connection, session_id: str, author_id: str, client_msg_id: str
) -> Message | None:
    """The message `author_id` committed under `client_msg_id`, if there is one."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM messages"
        " WHERE session_id = $1 AND client_msg_id = $2 AND author_id = $3",
        session_id,
        client_msg_id,
        author_id,
    )
    return None if row is None else rows_to([row], Message)[0]
