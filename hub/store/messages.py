"""Messages: batched, idempotent, gap-free inserts and keyset-paginated reads.

A batch may hold messages of many sessions. Per session its writes take the session row
lock first, so ids are allocated in commit order with no gap (a rolled-back batch rolls
back its counter too), and an author's `client_msg_id` seen before, in the database or
earlier in the batch, yields the original message instead of a second one.
`insert_fresh` commits the common case in one statement; `insert_batch`, inside the
caller's transaction, decides every case item by item.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from hub.domain import Message, auto_name, write_refusal
from hub.errors import HubError
from hub.store import Connection, row_to, rows_to

__all__ = ["BatchOutcome", "NewMessage", "insert_batch", "insert_fresh", "list_messages"]

COLUMNS = (
    "id, session_id, author_id, author_role, content, msg_type, metadata, parent_id,"
    " client_msg_id, token_count, attachments, created_at"
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


class BatchOutcome(msgspec.Struct):
    """Per input, in input order: (message, duplicate) or the error that refused it;
    plus each session renamed by its first chat message, as (session_id, new name)."""

    results: list[tuple[Message, bool] | HubError]
    renamed: list[tuple[str, str]]


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


async def _retried(
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


async def _present(conn: Connection, items: Sequence[NewMessage]) -> set[tuple[str, str]]:
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


async def insert_batch(conn: Connection, items: Sequence[NewMessage]) -> BatchOutcome:
    """Insert `items` inside the caller's transaction, deciding item by item (see the
    module docstring): the session locks are taken first, then the look-up, so nothing
    can commit in between. The slow, exact path: `insert_fresh` is the fast one."""
    results: list[tuple[Message, bool] | HubError | None] = [None] * len(items)
    sessions = await _lock_sessions(conn, items)
    existing = await _retried(conn, items)
    present = await _present(conn, items)

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
        error = _refusal(item, session, next_id.get(item.session_id, 1), present)
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
            results[index] = (_message(items[index], assigned, now), False)
        await _write(conn, items, to_insert, next_id, renamed)

    return BatchOutcome(_answer_copies(items, results, batch_keys), sorted(renamed.items()))


async def insert_fresh(conn: Connection, items: Sequence[NewMessage]) -> BatchOutcome | None:
    """The common case in one statement, hence one round trip and no explicit
    transaction (the statement is its own): it locks the sessions, refuses parents past
    the batch, numbers the other messages after each session's counter, inserts them
    with their activity rows and moves the counters, so the row locks are held only
    while PostgreSQL works. Copies of a `client_msg_id` within the batch are answered
    without a write.

    A refused message may be the retry of one committed before, which answers it: those
    are looked up after the statement, in one more round trip.

    It returns None, having written nothing, if a session is missing, deleted or
    completed, or a message with a parent has copies in the batch (were it refused, they
    would have to be judged alone). It fails, having written nothing, on a retry it
    would take (the unique index), or on a parent naming a message of the batch that a
    refusal before it leaves out (parents are checked as if no message before them in
    the batch were refused). In these cases `insert_batch` decides item by item."""
    results: list[tuple[Message, bool] | HubError | None] = [None] * len(items)
    present = await _present(conn, items)
    batch_keys: dict[tuple[str, str, str], int] = {}
    sent: list[int] = []  # the input index of each message the statement gets
    for index, item in enumerate(items):
        key = (item.session_id, item.author_id, item.client_msg_id) if item.client_msg_id else None
        if key is not None and key in batch_keys:
            if items[batch_keys[key]].parent_id is not None:
                return None
            continue  # resolved below, once the first copy has its row
        error = _unlocked_refusal(item, present)
        if error is not None:
            results[index] = error
            continue
        sent.append(index)
        if key is not None:
            batch_keys[key] = index

    renamed: list[tuple[str, str]] = []
    before: dict[str, int] = {}  # each session's counter before the statement
    if sent:
        chosen = [items[i] for i in sent]
        names = _names(chosen)
        rows = await _write_fresh(conn, chosen, names)
        refused: set[int] = set()
        for row in rows:
            if row["kind"] == _GO:
                if not row["n"]:
                    return None
                now = row["now"]
            elif row["kind"] == _SESSION:
                before[row["session_id"]] = row["n"]
            else:
                refused.add(row["n"])
        last = dict(before)
        first_chat: dict[str, int] = {}
        for position, index in enumerate(sent, 1):
            item = items[index]
            if position in refused:
                results[index] = HubError("bad_request", f"no message {item.parent_id} to reply to")
            else:
                last[item.session_id] += 1
                results[index] = (_message(item, last[item.session_id], now), False)
                if item.msg_type == "chat":
                    first_chat.setdefault(item.session_id, position)
        renamed = sorted(
            (row["session_id"], names[first_chat[row["session_id"]]])
            for row in rows
            if row["kind"] == _SESSION and row["renamed"]
        )
    refusals = [i for i, r in enumerate(results) if isinstance(r, HubError)]
    originals = await _retried(conn, [items[i] for i in refusals], before)
    for i in refusals:
        item = items[i]
        original = originals.get((item.session_id, item.author_id, item.client_msg_id or ""))
        if original is not None:
            results[i] = (original, True)
    return BatchOutcome(_answer_copies(items, results, batch_keys), renamed)


def _names(chosen: list[NewMessage]) -> dict[int, str]:
    """By position (from 1): the name each chat message would give an unnamed session,
    for those that may be its session's first chat message to commit: in each session,
    up to the first one without a parent: only a parent can refuse one in the
    statement."""
    names: dict[int, str] = {}
    settled: set[str] = set()
    for position, item in enumerate(chosen, 1):
        if item.msg_type == "chat" and item.session_id not in settled:
            names[position] = auto_name(item.content)
            if item.parent_id is None:
                settled.add(item.session_id)
    return names


def _answer_copies(
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
    item: NewMessage, session: Any, next_id: int, present: set[tuple[str, str]]
) -> HubError | None:
    if session is None:
        return write_refusal(item.session_id, None, False)
    closed = write_refusal(item.session_id, session["status"], session["deleted_at"] is not None)
    if closed is not None:
        return closed
    error = _unlocked_refusal(item, present)  # first, as `insert_fresh` checks it first
    if error is None and item.parent_id is not None and item.parent_id >= next_id:
        error = HubError("bad_request", f"no message {item.parent_id} to reply to")
    return error


def _unlocked_refusal(item: NewMessage, present: set[tuple[str, str]]) -> HubError | None:
    """What refuses a message whatever its session's state."""
    if item.parent_id is not None and item.parent_id < 1:
        return HubError("bad_request", f"no message {item.parent_id} to reply to")
    for path in item.attachments:
        if (item.session_id, path) not in present:
            return HubError("bad_request", f"attachment {path!r} is not a file of this session")
    return None


def _message(item: NewMessage, message_id: int, now: datetime) -> Message:
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
    )


async def _write(
    conn: Connection,
    items: Sequence[NewMessage],
    to_insert: list[tuple[int, int]],
    next_id: dict[str, int],
    renamed: dict[str, str],
) -> None:
    """One statement: the messages, their activity rows, the sessions' counters.

    The activity log gets one `message.sent` row per author and session per batch,
    listing the ids, rather than one per message: the messages table is itself the
    append-only record of each message.
    """
    chosen = [(items[i], a) for i, a in to_insert]
    authored: dict[tuple[str, str, str], list[int]] = {}
    for item, assigned in chosen:
        authored.setdefault((item.session_id, item.author_id, item.author_role), []).append(
            assigned
        )
    touched = sorted(next_id.keys() & {item.session_id for item, _ in chosen})
    await conn.execute(
        """WITH inserted AS (
               INSERT INTO messages (session_id, id, author_id, author_role, content, msg_type,
                   metadata, parent_id, client_msg_id, token_count, attachments)
               SELECT u.sid, u.id, u.author, u.role, u.content, u.mtype, u.meta::jsonb,
                      u.parent, u.cid, u.tokens, string_to_array(u.att, chr(31))
               FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                           $6::text[], $7::text[], $8::bigint[], $9::text[], $10::int[],
                           $11::text[])
                    AS u(sid, id, author, role, content, mtype, meta, parent, cid, tokens, att)
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
        [_json(item.metadata) for item, _ in chosen],
        [item.parent_id for item, _ in chosen],
        [item.client_msg_id for item, _ in chosen],
        [item.token_count for item, _ in chosen],
        [_SEP.join(item.attachments) for item, _ in chosen],
        [sid for sid, _, _ in authored],
        [actor for _, actor, _ in authored],
        [role for _, _, role in authored],
        [_json({"message_ids": ids}) for ids in authored.values()],
        touched,
        [next_id[sid] - 1 for sid in touched],
        [renamed.get(sid) for sid in touched],
    )


_GO, _SESSION, _REFUSED = 0, 1, 2  # the kinds of row `_write_fresh` returns


async def _write_fresh(
    conn: Connection, chosen: list[NewMessage], names: dict[int, str]
) -> list[Any]:
    """`insert_fresh`'s statement. Its rows: one (kind 0) saying whether every session
    may take messages (`n`; if not, nothing was written) and the commit time; a row per
    session (its counter before, whether it was renamed); a row per refused message
    (its position). The messages travel as one JSON array, which costs far less
    to encode here than a dozen parallel arrays; positions count from 1 in it."""
    parents = any(item.parent_id is not None for item in chosen)
    rows: list[Any] = await conn.fetch(
        _fresh_statement(parents),
        sorted({item.session_id for item in chosen}),
        chosen,  # as JSON, by the connection's codec
        list(names),
        list(names.values()),
    )
    return rows


@functools.cache
def _fresh_statement(parents: bool) -> str:
    """The statement, with the check of parents only if the batch has any (it costs a
    few percent): a parent must come before its message, counting the messages before
    it in the batch as if none were refused. Its `open` only spots a session that may
    refuse writes: such a batch is not decided here but by `insert_batch`, which asks
    the domain's `write_refusal` what to answer."""
    if parents:
        judged = """SELECT j.*, j.last + count(*) FILTER (WHERE j.taken) OVER w AS id
               FROM (SELECT i.*, i.parent_id IS NULL
                            OR i.parent_id < i.last + row_number() OVER w AS taken
                     FROM input i WINDOW w AS (PARTITION BY i.session_id ORDER BY i.ord)) j
               WINDOW w AS (PARTITION BY j.session_id ORDER BY j.ord)"""
    else:
        judged = """SELECT i.*, true AS taken,
                      i.last + row_number() OVER (PARTITION BY i.session_id ORDER BY i.ord) AS id
               FROM input i"""
    return f"""WITH locked AS (
               SELECT id, last_message_id AS last, name_is_auto,
                      deleted_at IS NULL AND status <> 'completed' AS open
               FROM sessions WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE
           ), go AS (
               SELECT count(*) = cardinality($1::text[]) AND bool_and(open) AS ok FROM locked
           ), input AS (
               SELECT u.*, l.last
               FROM ROWS FROM (json_to_recordset($2::json) AS (session_id text, author_id text,
                        author_role text, content text, msg_type text, metadata jsonb,
                        parent_id bigint, client_msg_id text, token_count int,
                        attachments text[]))
                    WITH ORDINALITY AS u(session_id, author_id, author_role, content, msg_type,
                        metadata, parent_id, client_msg_id, token_count, attachments, ord)
               JOIN locked l ON l.id = u.session_id
               WHERE (SELECT ok FROM go)
           ), judged AS (
               {judged}
           ), inserted AS (
               INSERT INTO messages (session_id, id, author_id, author_role, content, msg_type,
                   metadata, parent_id, client_msg_id, token_count, attachments)
               SELECT session_id, id, author_id, author_role, content, msg_type, metadata,
                      parent_id, client_msg_id, token_count, attachments
               FROM judged WHERE taken
           ), logged AS (
               INSERT INTO activity (session_id, actor_id, actor_role, action, detail)
               SELECT session_id, author_id, author_role, 'message.sent',
                      jsonb_build_object('message_ids', jsonb_agg(id ORDER BY id))
               FROM judged WHERE taken
               GROUP BY session_id, author_id, author_role ORDER BY min(id)
           ), counted AS (
               SELECT c.session_id, c.n, n.name
               FROM (SELECT session_id, count(*) AS n,
                            min(ord) FILTER (WHERE msg_type = 'chat') AS first_chat
                     FROM judged WHERE taken GROUP BY session_id) c
               LEFT JOIN unnest($3::bigint[], $4::text[]) AS n(ord, name)
                    ON n.ord = c.first_chat
           ), updated AS (
               UPDATE sessions s SET last_message_id = l.last + c.n, updated_at = now(),
                   name = CASE WHEN l.name_is_auto AND c.name IS NOT NULL
                               THEN c.name ELSE s.name END,
                   name_is_auto = l.name_is_auto AND c.name IS NULL
               FROM locked l JOIN counted c ON c.session_id = l.id
               WHERE s.id = l.id
               RETURNING s.id, l.name_is_auto AND c.name IS NOT NULL AS renamed
           )
           SELECT 0 AS kind, NULL AS session_id, ok::int AS n, NULL::bool AS renamed,
                  now() AS now FROM go
           UNION ALL
           SELECT 1, l.id, l.last, coalesce(u.renamed, false), NULL
           FROM locked l LEFT JOIN updated u ON u.id = l.id
           UNION ALL
           SELECT 2, NULL, ord, NULL, NULL FROM judged WHERE NOT taken"""


_SEP = chr(31)  # a control character, which file paths may not contain


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


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
