"""The exact insert of a batch of messages: inside the caller's transaction, the session
locks first, then every decision item by item (retries, refusals, parents, attachments).
Also the look-ups both insert paths share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from hub.domain import Message, auto_name, write_refusal
from hub.errors import HubError
from hub.store import Connection, row_to
from hub.store.attachments import present_attachments as present_uploads
from hub.store.messages import COLUMNS, BatchOutcome, NewMessage

__all__ = [
    "answer_copies",
    "as_message",
    "committed_retries",
    "insert_batch",
    "json_text",
    "present_attachments",
    "unknown_attachment",
    "unlocked_refusal",
]


async def _lock_sessions(conn: Connection, items: Sequence[NewMessage]) -> dict[str, Any]:
    """Take the row lock of every session the batch writes to (in id order, so batches
    never deadlock), inside the caller's transaction. Returns the rows by id."""
    session_ids = sorted({item.session_id for item in items})
    return {
        row["id"]: row
        for row in await conn.fetch(
            "SELECT id, status, deleted_at, name_is_auto, last_message_id, now() AS now"
            " FROM sessions WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
            session_ids,
        )
    }


async def committed_retries(
    conn: Connection, items: Sequence[NewMessage], before: dict[str, int] | None = None
) -> dict[tuple[str, str, str], Message]:
    """Messages already committed under the `client_msg_id`s of `items`, by (session,
    author, client_msg_id): with the session locks held, or with `before` (a session's
    counter before a statement that just wrote to it) to leave out what it wrote."""
    keyed = [it for it in items if it.client_msg_id is not None]
    existing: dict[tuple[str, str, str], Message] = {}
    if keyed:
        bound = before or {}
        rows = await conn.fetch(  # an index probe per key, whatever the statistics say
            f"SELECT o.* FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])"
            " AS k(sid, aid, cid, last)"
            f" CROSS JOIN LATERAL (SELECT {COLUMNS} FROM messages m"
            "   WHERE m.session_id = k.sid AND m.author_id = k.aid AND m.client_msg_id = k.cid"
            "   AND (k.last IS NULL OR m.id <= k.last) LIMIT 1) o",
            [it.session_id for it in keyed],
            [it.author_id for it in keyed],
            [it.client_msg_id for it in keyed],
            [bound.get(it.session_id) for it in keyed],
        )
        existing = {
            (r["session_id"], r["author_id"], r["client_msg_id"]): row_to(r, Message) for r in rows
        }
    return existing


async def present_attachments(
    conn: Connection, items: Sequence[NewMessage]
) -> set[tuple[str, str]]:
    """The attachments named by `items` that are files of their session."""
    wanted = {(it.session_id, path) for it in items for path in it.attachments}
    if not wanted:
        return set()
    rows = await conn.fetch(  # an index probe per path, whatever the statistics say
        "SELECT f.session_id, f.path FROM unnest($1::text[], $2::text[]) AS w(sid, path)"
        " CROSS JOIN LATERAL (SELECT session_id, path FROM files"
        "   WHERE session_id = w.sid AND path = w.path) f",
        [s for s, _ in wanted],
        [p for _, p in wanted],
    )
    return {(r["session_id"], r["path"]) for r in rows}


async def insert_batch(
    conn: Connection, items: Sequence[NewMessage], *, logged: bool = True
) -> BatchOutcome:
    """Insert `items` inside the caller's transaction, deciding item by item (see the
    module docstring): the session locks are taken first, then the look-up, so nothing
    can commit in between. The slow, exact path: `insert_fresh` is the fast one. Not
    `logged`: no `message.sent` row, for a system message that is part of a change
    writing its own activity row (a decision, an interrupt: one row per change)."""
    results: list[tuple[Message, bool] | HubError | None] = [None] * len(items)
    sessions = await _lock_sessions(conn, items)
    existing = await committed_retries(conn, items)
    present = await present_attachments(conn, items)
    uploads = await present_uploads(
        conn, {(it.session_id, a) for it in items if it.attachment_ids for a in it.attachment_ids}
    )

    next_id = {sid: row["last_message_id"] + 1 for sid, row in sessions.items()}
    batch_keys: dict[tuple[str, str, str], int] = {}
    renamed: dict[str, str] = {}
    to_insert: list[tuple[int, int]] = []  # (input index, assigned id)
    for index, item in enumerate(items):
        key = (item.session_id, item.author_id, item.client_msg_id) if item.client_msg_id else None
        if key is not None and key in existing:
            results[index] = (existing[key], True)
            continue
        if key is not None and key in batch_keys:
            continue  # resolved below, once the first copy has its row
        session = sessions.get(item.session_id)
        error = _refusal(item, session, next_id.get(item.session_id, 1), present, uploads)
        if error is not None:
            results[index] = error
            continue
        assert session is not None
        assigned = next_id[item.session_id]
        next_id[item.session_id] = assigned + 1
        to_insert.append((index, assigned))
        if key is not None:
            batch_keys[key] = index
        if session["name_is_auto"] and item.msg_type == "chat" and item.session_id not in renamed:
            renamed[item.session_id] = auto_name(item.content)

    if to_insert:
        now = sessions[items[to_insert[0][0]].session_id]["now"]
        for index, assigned in to_insert:
            results[index] = (as_message(items[index], assigned, now), False)
        await _write(conn, items, to_insert, next_id, renamed, logged)

    return BatchOutcome(answer_copies(items, results, batch_keys), sorted(renamed.items()))


def answer_copies(
    items: Sequence[NewMessage],
    results: list[tuple[Message, bool] | HubError | None],
    batch_keys: dict[tuple[str, str, str], int],
) -> list[tuple[Message, bool] | HubError]:
    """Copies of a client_msg_id first seen in this batch answer with the first's row."""
    final: list[tuple[Message, bool] | HubError] = []
    for index, item in enumerate(items):
        result = results[index]
        if result is None:
            assert item.client_msg_id is not None
            first = results[batch_keys[(item.session_id, item.author_id, item.client_msg_id)]]
            assert first is not None
            result = first if isinstance(first, HubError) else (first[0], True)
        final.append(result)
    return final


def _refusal(
    item: NewMessage,
    session: Any,
    next_id: int,
    present: set[tuple[str, str]],
    uploads: set[tuple[str, str]],
) -> HubError | None:
    if session is None:
        return write_refusal(item.session_id, None, False)
    closed = write_refusal(item.session_id, session["status"], session["deleted_at"] is not None)
    if closed is not None:
        return closed
    error = unlocked_refusal(item, present)  # first, as `insert_fresh` checks it first
    if error is None and item.attachment_ids:
        if any((item.session_id, a) not in uploads for a in item.attachment_ids):
            error = unknown_attachment()
    if error is None and item.parent_id is not None and item.parent_id >= next_id:
        error = HubError("bad_request", f"no message {item.parent_id} to reply to")
    return error


def unknown_attachment() -> HubError:
    """The refusal of a message naming an attachment its session does not have."""
    return HubError(
        "bad_request", "an attachment id of this message is not an upload of its session"
    )


def unlocked_refusal(item: NewMessage, present: set[tuple[str, str]]) -> HubError | None:
    """What refuses a message whatever its session's state."""
    if item.parent_id is not None and item.parent_id < 1:
        return HubError("bad_request", f"no message {item.parent_id} to reply to")
    for path in item.attachments:
        if (item.session_id, path) not in present:
            return HubError("bad_request", f"attachment {path!r} is not a file of this session")
    return None


def as_message(item: NewMessage, message_id: int, now: datetime) -> Message:
    """The row as the database will hold it (`created_at` is the transaction's now())."""
    return Message(
        id=message_id,
        session_id=item.session_id,
        author_id=item.author_id,
        author_role=item.author_role,  # type: ignore[arg-type]
        content=item.content,
        msg_type=item.msg_type,  # type: ignore[arg-type]
        metadata=item.metadata,
        parent_id=item.parent_id,
        client_msg_id=item.client_msg_id,
        token_count=item.token_count,
        attachments=item.attachments,
        created_at=now,
        attachment_ids=item.attachment_ids or [],
    )


async def _write(
    conn: Connection,
    items: Sequence[NewMessage],
    to_insert: list[tuple[int, int]],
    next_id: dict[str, int],
    renamed: dict[str, str],
    logged: bool,
) -> None:
    """One statement: the messages, their activity rows (if `logged`), the sessions'
    counters.

    The activity log gets one `message.sent` row per author and session per batch,
    listing the ids, rather than one per message: the messages table is itself the
    append-only record of each message.
    """
    chosen = [(items[i], a) for i, a in to_insert]
    authored: dict[tuple[str, str, str], list[int]] = {}
    for item, assigned in chosen if logged else ():
        authored.setdefault((item.session_id, item.author_id, item.author_role), []).append(
            assigned
        )
    touched = sorted(next_id.keys() & {item.session_id for item, _ in chosen})
    await conn.execute(
        """WITH inserted AS (
               INSERT INTO messages (session_id, id, author_id, author_role, content, msg_type,
                   metadata, parent_id, client_msg_id, token_count, attachments,
                   attachment_ids)
               SELECT u.sid, u.id, u.author, u.role, u.content, u.mtype, u.meta::jsonb,
                      u.parent, u.cid, u.tokens, string_to_array(u.att, chr(31)),
                      string_to_array(u.ids, ',')
               FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                           $6::text[], $7::text[], $8::bigint[], $9::text[], $10::int[],
                           $11::text[], $19::text[])
                    AS u(sid, id, author, role, content, mtype, meta, parent, cid, tokens, att,
                         ids)
           ), logged AS (
               INSERT INTO activity (session_id, actor_id, actor_role, action, detail)
               SELECT a.sid, a.actor, a.role, 'message.sent', a.detail::jsonb
               FROM unnest($12::text[], $13::text[], $14::text[], $15::text[])
                    AS a(sid, actor, role, detail)
           )
           UPDATE sessions s SET last_message_id = c.last, updated_at = now(),
               name = COALESCE(c.name, s.name), name_is_auto = s.name_is_auto AND c.name IS NULL
           FROM unnest($16::text[], $17::bigint[], $18::text[]) AS c(sid, last, name)
           WHERE s.id = c.sid""",
        [item.session_id for item, _ in chosen],
        [assigned for _, assigned in chosen],
        [item.author_id for item, _ in chosen],
        [item.author_role for item, _ in chosen],
        [item.content for item, _ in chosen],
        [item.msg_type for item, _ in chosen],
        [json_text(item.metadata) for item, _ in chosen],
        [item.parent_id for item, _ in chosen],
        [item.client_msg_id for item, _ in chosen],
        [item.token_count for item, _ in chosen],
        [_SEP.join(item.attachments) for item, _ in chosen],
        [sid for sid, _, _ in authored],
        [actor for _, actor, _ in authored],
        [role for _, _, role in authored],
        [json_text({"message_ids": ids}) for ids in authored.values()],
        touched,
        [next_id[sid] - 1 for sid in touched],
        [renamed.get(sid) for sid in touched],
        [",".join(item.attachment_ids) if item.attachment_ids else None for item, _ in chosen],
    )


_SEP = chr(31)  # a control character, which file paths may not contain


def json_text(value: object) -> str:
    return msgspec.json.encode(value).decode()
