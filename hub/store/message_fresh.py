"""The fast insert of a batch of messages: the common case in one statement (one round
trip); what it cannot decide is left to `hub.store.message_batch.insert_batch`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from hub.domain import WRITABLE_STATUSES, Message, auto_name
from hub.errors import HubError
from hub.store import Connection
from hub.store.message_batch import (
    answer_copies,
    as_message,
    committed_retries,
    present_attachments,
    unknown_attachment,
    unlocked_refusal,
)
from hub.store.messages import BatchOutcome, NewMessage

__all__ = ["insert_fresh"]

_WRITABLE = sorted(WRITABLE_STATUSES)
"""Statuses whose sessions take messages (the domain's rule, as the statement's `$5`)."""

# the kinds of row `_write_fresh` returns
_GO, _SESSION, _REFUSED, _UNATTACHED = 0, 1, 2, 3


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
    present = await present_attachments(conn, items)
    batch_keys: dict[tuple[str, str, str], int] = {}
    sent: list[int] = []  # the input index of each message the statement gets
    for index, item in enumerate(items):
        key = (item.session_id, item.author_id, item.client_msg_id) if item.client_msg_id else None
        if key is not None and key in batch_keys:
            if items[batch_keys[key]].parent_id is not None:
                return None
            continue  # resolved below, once the first copy has its row
        error = unlocked_refusal(item, present)
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
        unattached: set[int] = set()
        for row in rows:
            if row["kind"] == _GO:
                if not row["n"]:
                    return None
                now = row["now"]
            elif row["kind"] == _SESSION:
                before[row["session_id"]] = row["n"]
            elif row["kind"] == _REFUSED:
                refused.add(row["n"])
            else:
                unattached.add(row["n"])
        last = dict(before)
        first_chat: dict[str, int] = {}
        for position, index in enumerate(sent, 1):
            item = items[index]
            if position in unattached:
                results[index] = unknown_attachment()
            elif position in refused:
                results[index] = HubError("bad_request", f"no message {item.parent_id} to reply to")
            else:
                last[item.session_id] += 1
                results[index] = (as_message(item, last[item.session_id], now), False)
                if item.msg_type == "chat":
                    first_chat.setdefault(item.session_id, position)
        renamed = sorted(
            (row["session_id"], names[first_chat[row["session_id"]]])
            for row in rows
            if row["kind"] == _SESSION and row["renamed"]
        )
    refusals = [i for i, r in enumerate(results) if isinstance(r, HubError)]
    originals = await committed_retries(conn, [items[i] for i in refusals], before)
    for i in refusals:
        item = items[i]
        original = originals.get((item.session_id, item.author_id, item.client_msg_id or ""))
        if original is not None:
            results[i] = (original, True)
    return BatchOutcome(answer_copies(items, results, batch_keys), renamed)


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


async def _write_fresh(
    conn: Connection, chosen: list[NewMessage], names: dict[int, str]
) -> list[Any]:
    """`insert_fresh`'s statement. Its rows: one (kind 0) saying whether every session
    may take messages (`n`; if not, nothing was written) and the commit time; a row per
    session (its counter before, whether it was renamed); a row per refused message
    (its position), kind 2 for a bad parent, kind 3 for an attachment its session does
    not have. The messages travel as one JSON array, which costs far less to encode here
    than a dozen parallel arrays; positions count from 1 in it."""
    parents = any(item.parent_id is not None for item in chosen)
    attached = any(item.attachment_ids for item in chosen)
    rows: list[Any] = await conn.fetch(
        _fresh_statement(parents, attached),
        sorted({item.session_id for item in chosen}),
        chosen,  # as JSON, by the connection's codec
        list(names),
        list(names.values()),
        _WRITABLE,
    )
    return rows


@functools.cache
def _fresh_statement(parents: bool, attached: bool) -> str:
    """The statement, with the check of parents only if the batch has any (it costs a
    few percent): a parent must come before its message, counting the messages before
    it in the batch as if none were refused; and the check of uploaded attachments only
    if the batch names any (a message without them costs nothing more): each must be an
    upload of the message's session, looked up by its primary key in this statement.
    Its `open` is the domain's rule of which sessions take writes (`WRITABLE_STATUSES`,
    passed as `$5`): a batch writing to any other is not decided here but by
    `insert_batch`, which asks the domain's `write_refusal` what to answer."""
    source = "input"
    checked = ""
    if attached:
        source = "checked"
        checked = """, checked AS (
               SELECT i.*, i.attachment_ids IS NULL
                      OR cardinality(i.attachment_ids) = (SELECT count(*) FROM attachments a
                            WHERE a.id = ANY (i.attachment_ids) AND a.session_id = i.session_id)
                      AS found
               FROM input i
           )"""
    if parents:
        taken = """i.parent_id IS NULL
                            OR i.parent_id < i.last + row_number() OVER w"""
        if attached:
            taken = f"i.found AND ({taken})"
        judged = f"""SELECT j.*, j.last + count(*) FILTER (WHERE j.taken) OVER w AS id
               FROM (SELECT i.*, {taken} AS taken
                     FROM {source} i WINDOW w AS (PARTITION BY i.session_id ORDER BY i.ord)) j
               WINDOW w AS (PARTITION BY j.session_id ORDER BY j.ord)"""
    elif attached:
        judged = """SELECT i.*, i.found AS taken, i.last + count(*) FILTER (WHERE i.found)
                      OVER (PARTITION BY i.session_id ORDER BY i.ord) AS id
               FROM checked i"""
    else:
        judged = """SELECT i.*, true AS taken,
                      i.last + row_number() OVER (PARTITION BY i.session_id ORDER BY i.ord) AS id
               FROM input i"""
    ids_type = ",\n                        attachment_ids text[]" if attached else ""
    ids_name = ", attachment_ids" if attached else ""
    refused = "NOT taken AND found" if attached else "NOT taken"
    unattached = (
        "\n           UNION ALL"
        "\n           SELECT 3, NULL, ord, NULL, NULL FROM judged WHERE NOT found"
        if attached
        else ""
    )
    return f"""WITH locked AS (
               SELECT id, last_message_id AS last, name_is_auto,
                      deleted_at IS NULL AND status = ANY($5::text[]) AS open
               FROM sessions WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE
           ), go AS (
               SELECT count(*) = cardinality($1::text[]) AND bool_and(open) AS ok FROM locked
           ), input AS (
               SELECT u.*, l.last
               FROM ROWS FROM (json_to_recordset($2::json) AS (session_id text, author_id text,
                        author_role text, content text, msg_type text, metadata jsonb,
                        parent_id bigint, client_msg_id text, token_count int,
                        attachments text[]{ids_type}))
                    WITH ORDINALITY AS u(session_id, author_id, author_role, content, msg_type,
                        metadata, parent_id, client_msg_id, token_count, attachments{ids_name}, ord)
               JOIN locked l ON l.id = u.session_id
               WHERE (SELECT ok FROM go)
           ){checked}, judged AS (
               {judged}
           ), inserted AS (
               INSERT INTO messages (session_id, id, author_id, author_role, content, msg_type,
                   metadata, parent_id, client_msg_id, token_count, attachments{ids_name})
               SELECT session_id, id, author_id, author_role, content, msg_type, metadata,
                      parent_id, client_msg_id, token_count, attachments{ids_name}
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
           SELECT 2, NULL, ord, NULL, NULL FROM judged WHERE {refused}{unattached}"""
