"""Batched message inserts: gap-free ids, idempotent retries, refusals that isolate."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from hub.domain import Message
from hub.errors import HubError
from hub.store import Store
from hub.store import sessions as session_store
from hub.store.message_batch import insert_batch
from hub.store.message_fresh import insert_fresh
from hub.store.messages import BatchOutcome, NewMessage, list_messages
from hub.store.writer import GroupCommitter


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = await Store.open(database_url, size=4)
    yield store
    await store.close()


async def new_session(store: Store, *, name: str | None = None) -> str:
    from hub.domain import new_invite_code, new_session_id

    async with store.transaction() as conn:
        session = await session_store.create_session(
            conn,
            session_id=new_session_id(),
            name=name or "New Session",
            name_is_auto=name is None,
            mode="async",
            is_private=False,
            agent_a_id="a",
            invite_code=new_invite_code(),
            invite_ttl_seconds=3600,
            workspace_id=None,
            metadata={},
            creator_type="agent",
            creator_name=None,
        )
    return session.id


Commit = Callable[[list[NewMessage]], Awaitable[BatchOutcome]]


@pytest.fixture(params=["insert_batch", "insert_fresh", "group_commit"])
async def commit(request: pytest.FixtureRequest, store: Store) -> AsyncIterator[Commit]:
    """Commit one batch: with `insert_batch` in a transaction (the exact path), with
    `insert_fresh` alone (the one-statement path, which must then decide by itself), or
    through the group committer (the one-statement path, falling back to the exact one)."""
    if request.param == "insert_batch":

        async def exact(items: list[NewMessage]) -> BatchOutcome:
            async with store.transaction() as conn:
                return await insert_batch(conn, items)

        yield exact
        return
    if request.param == "insert_fresh":

        async def fresh(items: list[NewMessage]) -> BatchOutcome:
            async with store.connection() as conn:
                outcome = await insert_fresh(conn, items)
            assert outcome is not None, "insert_fresh left the batch to insert_batch"
            return outcome

        yield fresh
        return

    async def ignore(messages: list[Message], renamed: list[tuple[str, str]]) -> None:
        pass

    writer = GroupCommitter(store, ignore)
    writer.start()

    async def grouped(items: list[NewMessage]) -> BatchOutcome:
        waiters = [writer.enqueue(item) for item in items]  # all in one batch
        done = await asyncio.gather(*waiters, return_exceptions=True)
        for result in done:
            if isinstance(result, BaseException) and not isinstance(result, HubError):
                raise result
        return BatchOutcome(done, [])  # type: ignore[arg-type]

    yield grouped
    await writer.close()


def skip_one_statement(commit: Commit, what: str) -> None:
    if getattr(commit, "__name__", "") == "fresh":
        pytest.skip(f"insert_fresh leaves {what} to insert_batch (tested below)")


def msg(session_id: str, content: str, cid: str | None = None, **kw: object) -> NewMessage:
    return NewMessage(
        session_id=session_id,
        author_id="a",
        author_role="agent_a",
        content=content,
        client_msg_id=cid,
        **kw,
    )  # type: ignore[arg-type]


async def test_batch_assigns_consecutive_ids_per_session(store: Store, commit: Commit) -> None:
    """A batch spanning two sessions numbers each session 1, 2, 3… in input order."""
    s1, s2 = await new_session(store), await new_session(store)
    out = await commit([msg(s1, "a"), msg(s2, "x"), msg(s1, "b"), msg(s1, "c")])
    ids = [(r[0].session_id, r[0].id) for r in out.results if not isinstance(r, HubError)]
    assert ids == [(s1, 1), (s2, 1), (s1, 2), (s1, 3)]
    async with store.connection() as conn:
        assert [m.content for m in await list_messages(conn, s1)] == ["a", "b", "c"]
        session = await session_store.get_session(conn, s1)
    assert session.last_message_id == 3


async def test_retried_client_msg_id_returns_the_original(store: Store, commit: Commit) -> None:
    """The same client_msg_id, in a later batch or twice in one, makes one message."""
    skip_one_statement(commit, "retries")
    sid = await new_session(store)
    first = await commit([msg(sid, "one", "k1"), msg(sid, "one again", "k1")])
    again = await commit([msg(sid, "retry", "k1"), msg(sid, "two", "k2")])
    (m1, dup1), (m1b, dup1b) = first.results  # type: ignore[misc]
    (m2, dup2), (m3, dup3) = again.results  # type: ignore[misc]
    assert isinstance(m1, Message) and not dup1
    assert dup1b and m1b.id == m1.id
    assert dup2 and m2.id == m1.id and m2.content == "one"
    assert not dup3 and m3.id == 2


async def test_refused_items_do_not_leave_gaps(store: Store, commit: Commit) -> None:
    """A refused item (bad parent, missing attachment) takes no id; the rest commit."""
    sid = await new_session(store)
    out = await commit(
        [
            msg(sid, "ok"),
            msg(sid, "reply to nothing", parent_id=7),
            msg(sid, "with missing file", attachments=["nope.txt"]),
            msg(sid, "reply", parent_id=1),
            msg(sid, "reply to zero", parent_id=0),
        ]
    )
    kinds = [r.code if isinstance(r, HubError) else r[0].id for r in out.results]
    assert kinds == [1, "bad_request", "bad_request", 2, "bad_request"]


async def test_a_retry_is_answered_with_its_original_even_if_refusable(
    store: Store, commit: Commit
) -> None:
    """A retried client_msg_id gets the message committed under it, whatever else its
    payload says now: a parent or an attachment that would refuse a new message."""
    sid = await new_session(store)
    (original, _), *_ = (await commit([msg(sid, "orig", "k1"), msg(sid, "o2", "k2")])).results  # type: ignore[misc]
    out = await commit(
        [
            msg(sid, "retry", "k1", parent_id=99),
            msg(sid, "retry", "k2", attachments=["gone.txt"]),
            msg(sid, "next", "k3"),
        ]
    )
    (r1, dup1), (r2, dup2), (r3, dup3) = out.results  # type: ignore[misc]
    assert (r1, dup1) == (original, True)
    assert (r2.id, r2.content, dup2) == (2, "o2", True)
    assert (r3.id, dup3) == (3, False)


async def test_a_copy_is_judged_alone_when_its_first_is_refused(
    store: Store, commit: Commit
) -> None:
    """Copies of a client_msg_id in one batch answer as their first, unless the first
    was refused: then the next copy is judged on its own, and may be taken."""
    skip_one_statement(commit, "copies of a message with a parent")
    sid = await new_session(store)
    out = await commit(
        [
            msg(sid, "reply", "k", parent_id=2),  # refused: 2 is past its own id, 1
            msg(sid, "one"),
            msg(sid, "two"),
            msg(sid, "reply", "k", parent_id=2),  # taken: 2 is now before its id, 3
        ]
    )
    kinds = [r.code if isinstance(r, HubError) else (r[0].id, r[1]) for r in out.results]
    assert kinds == ["bad_request", (1, False), (2, False), (3, False)]
    other = await new_session(store)
    out = await commit([msg(other, "Bad", "j", parent_id=9), msg(other, "Fixed", "j")])
    kinds = [r.code if isinstance(r, HubError) else (r[0].id, r[1]) for r in out.results]
    assert kinds == ["bad_request", (1, False)]
    async with store.connection() as conn:
        assert (await session_store.get_session(conn, other)).name == "Fixed"


async def test_closed_sessions_take_no_messages(store: Store, commit: Commit) -> None:
    """Messages to a completed or deleted session are refused; others in the batch go."""
    skip_one_statement(commit, "closed sessions")
    done, gone, open_ = [await new_session(store) for _ in range(3)]
    async with store.transaction() as conn:
        await session_store.update_session(conn, done, status="completed")
        await conn.execute("UPDATE sessions SET deleted_at = now() WHERE id = $1", gone)
    out = await commit([msg(done, "late"), msg(gone, "later"), msg(open_, "fine")])
    kinds = [r.code if isinstance(r, HubError) else r[0].id for r in out.results]
    assert kinds == ["session_completed", "session_deleted", 1]


async def test_first_chat_message_names_the_session(store: Store, commit: Commit) -> None:
    """An unnamed session takes its name from the first chat message committed, once."""
    sid, other = await new_session(store), await new_session(store)
    named = await new_session(store, name="Kept")
    await commit(
        [
            msg(sid, "status", msg_type="status"),
            msg(sid, "Design the API\nbody"),
            msg(sid, "Second"),
            msg(named, "Ignored"),
            msg(other, "Refused", parent_id=99),
            msg(other, "Taken"),
        ]
    )
    async with store.connection() as conn:
        assert (await session_store.get_session(conn, sid)).name == "Design the API"
        assert (await session_store.get_session(conn, named)).name == "Kept"
        assert (await session_store.get_session(conn, other)).name == "Taken"


async def test_messages_are_immutable(store: Store) -> None:
    """The schema itself refuses to change or delete a message."""
    import asyncpg

    sid = await new_session(store)
    async with store.transaction() as conn:
        await insert_batch(conn, [msg(sid, "fixed")])
    async with store.connection() as conn:
        with pytest.raises(asyncpg.RaiseError):
            await conn.execute("UPDATE messages SET content = 'x' WHERE session_id = $1", sid)
        with pytest.raises(asyncpg.RaiseError):
            await conn.execute("DELETE FROM messages WHERE session_id = $1", sid)


async def test_pagination_both_ways(store: Store) -> None:
    """after/before/limit page through history in id order."""
    sid = await new_session(store)
    async with store.transaction() as conn:
        await insert_batch(conn, [msg(sid, str(i)) for i in range(1, 11)])
    async with store.connection() as conn:
        assert [m.id for m in await list_messages(conn, sid, after=3, limit=4)] == [4, 5, 6, 7]
        assert [m.id for m in await list_messages(conn, sid, before=4, limit=2)] == [2, 3]
        assert [m.id for m in await list_messages(conn, sid, after=2, before=5)] == [3, 4]
        assert [m.id for m in await list_messages(conn, sid, before=3, limit=10)] == [1, 2]


async def test_client_msg_id_is_per_author(store: Store, commit: Commit) -> None:
    """Two participants who pick the same client_msg_id each get their own message."""
    skip_one_statement(commit, "retries")
    sid = await new_session(store)
    theirs = NewMessage(
        session_id=sid, author_id="b", author_role="agent_b", content="from b", client_msg_id="m1"
    )
    first = await commit([msg(sid, "from a", "m1"), theirs])
    again = await commit([theirs])
    (a, dup_a), (b, dup_b) = first.results  # type: ignore[misc]
    assert (a.id, b.id, dup_a, dup_b) == (1, 2, False, False)
    (b2, dup) = again.results[0]  # type: ignore[misc]
    assert dup and b2.id == 2 and b2.content == "from b"


async def test_a_retry_committed_while_its_batch_waits_yields_the_original(
    store: Store,
) -> None:
    """The first copy of a message commits (say, on another process) while a batch
    holding its retry waits for the session lock: the batch is committed again item by
    item, the sender gets the original back, and nothing is lost or doubled."""
    sid = await new_session(store)
    committed: list[int] = []

    async def on_commit(messages: list[Message], renamed: list[tuple[str, str]]) -> None:
        committed.extend(m.id for m in messages)

    writer = GroupCommitter(store, on_commit)
    writer.start()
    try:
        async with store.transaction() as holder:
            # Hold the session lock, so the writer's statement waits.
            await holder.execute("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", sid)
            retry = writer.enqueue(msg(sid, "hello", "k1"))
            other = writer.enqueue(msg(sid, "next", "k2"))
            async with asyncio.timeout(10):  # PostgreSQL has no event for "a lock is awaited"
                waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted"
                while not await holder.fetchval(waiting):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            # Meanwhile the first copy commits (as another process would).
            out = await insert_batch(holder, [msg(sid, "hello", "k1")])
        original = out.results[0]
        assert not isinstance(original, HubError)
        async with asyncio.timeout(10):
            message, duplicate = await retry
            second, second_duplicate = await other
        assert duplicate and message.id == original[0].id == 1
        assert not second_duplicate and second.id == 2
        # the original is announced again with the retry (receivers drop what they have)
        assert committed == [1, 2]
        async with store.connection() as conn:
            assert [m.content for m in await list_messages(conn, sid)] == ["hello", "next"]
    finally:
        await writer.close()


async def test_a_bad_parent_does_not_send_its_batch_down_the_exact_path(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A reply to a message that does not exist is refused by the one statement itself:
    a client cannot make every batch, everyone's messages with its own, take the slow
    item-by-item path."""
    sid = await new_session(store)

    async def ignore(messages: list[Message], renamed: list[tuple[str, str]]) -> None:
        pass

    writer = GroupCommitter(store, ignore)
    writer.start()
    try:
        with caplog.at_level(logging.INFO, logger="hub.writer"):
            waiters = [
                writer.enqueue(msg(sid, "one")),
                writer.enqueue(msg(sid, "reply to nothing", parent_id=5)),
                writer.enqueue(msg(sid, "two", parent_id=1)),
            ]
            async with asyncio.timeout(10):
                one, refused, two = await asyncio.gather(*waiters, return_exceptions=True)
        assert isinstance(refused, HubError) and refused.code == "bad_request"
        assert not isinstance(one, BaseException) and not isinstance(two, BaseException)
        assert (one[0].id, two[0].id, two[0].parent_id) == (1, 2, 1)
        assert not [r for r in caplog.records if "item by item" in r.getMessage()]
    finally:
        await writer.close()


async def test_the_one_statement_path_numbers_logs_and_renames(store: Store) -> None:
    """`insert_fresh` numbers after each session's counter, writes one activity row per
    author listing their ids, moves the counters and renames an unnamed session."""
    s1, s2 = await new_session(store), await new_session(store, name="Kept")
    async with store.transaction() as conn:
        await insert_batch(conn, [msg(s1, "status first", msg_type="status")])
    theirs = NewMessage(session_id=s1, author_id="b", author_role="agent_b", content="b says")
    items = [msg(s1, "Plan\nbody", "k1"), msg(s2, "x"), theirs, msg(s1, "again", "k1")]
    async with store.connection() as conn:
        out = await insert_fresh(conn, items)
        assert out is not None
        ids = [(r[0].session_id, r[0].id, r[1]) for r in out.results if not isinstance(r, HubError)]
        assert ids == [(s1, 2, False), (s2, 1, False), (s1, 3, False), (s1, 2, True)]
        assert out.renamed == [(s1, "Plan")]
        assert (await session_store.get_session(conn, s1)).last_message_id == 3
        assert (await session_store.get_session(conn, s2)).name == "Kept"
        logged = await conn.fetch(
            "SELECT actor_id, detail FROM activity WHERE session_id = $1"
            " AND action = 'message.sent' ORDER BY id",
            s1,
        )
        assert [(r["actor_id"], r["detail"]) for r in logged] == [
            ("a", {"message_ids": [1]}),
            ("a", {"message_ids": [2]}),
            ("b", {"message_ids": [3]}),
        ]


async def test_the_one_statement_path_leaves_hard_cases_to_the_exact_one(store: Store) -> None:
    """A closed session makes `insert_fresh` write nothing and return None. A retried
    client_msg_id, or a parent naming a message of the batch that a refusal before it
    left out, fails the statement, and nothing is half written. Parents past the batch
    it refuses itself."""
    import asyncpg

    open_, done = await new_session(store), await new_session(store)
    async with store.transaction() as conn:
        await session_store.update_session(conn, done, status="completed")
    async with store.connection() as conn:
        items = [msg(open_, "fine"), msg(done, "late")]
        assert await insert_fresh(conn, items) is None
        # The second would be 1, were the first not refused: so its parent, 1, is itself.
        items = [msg(open_, "reply to nothing", parent_id=99), msg(open_, "guess", parent_id=1)]
        with pytest.raises(asyncpg.CheckViolationError):
            await insert_fresh(conn, items)
        assert await list_messages(conn, open_) == []
        assert (await session_store.get_session(conn, open_)).last_message_id == 0
        first = await insert_fresh(conn, [msg(open_, "first", "k1")])
        items = [
            msg(open_, "retry", "k1"),
            msg(open_, "reply to itself", parent_id=3),
            msg(open_, "two"),
        ]
        with pytest.raises(asyncpg.UniqueViolationError):
            await insert_fresh(conn, items)
        assert [m.content for m in await list_messages(conn, open_)] == ["first"]
        again = await insert_fresh(conn, items[1:])
        assert first is not None and again is not None
        refused, two = again.results
        assert isinstance(refused, HubError) and refused.code == "bad_request"
        assert not isinstance(two, HubError) and two[0].id == 2
        assert [m.content for m in await list_messages(conn, open_)] == ["first", "two"]


async def test_shutdown_answers_committed_messages_as_committed(store: Store) -> None:
    """Closing the committer while a committed batch is being published still tells its
    sender the message is saved (a sender told otherwise might send it again)."""
    sid = await new_session(store)
    publishing = asyncio.Event()

    async def stuck(messages: list[Message], renamed: list[tuple[str, str]]) -> None:
        publishing.set()
        await asyncio.Event().wait()

    writer = GroupCommitter(store, stuck)
    writer.start()
    waiter = writer.enqueue(msg(sid, "saved"))
    async with asyncio.timeout(10):
        await publishing.wait()
    await writer.close()
    message, duplicate = waiter.result()
    assert message.content == "saved" and not duplicate


async def upload(store: Store, session_id: str, data: bytes) -> str:
    """An attachment of the session (its blob row and upload row, no chunks needed)."""
    import hashlib

    from hub.domain.attachments import new_attachment_id
    from hub.store import attachments as attachment_store

    sha = hashlib.sha256(data).hexdigest()
    async with store.transaction() as conn:
        await attachment_store.insert_blob(conn, session_id, sha, len(data), None)
        created = await attachment_store.insert_attachment(
            conn,
            attachment_id=new_attachment_id(),
            session_id=session_id,
            sha256=sha,
            name="a.bin",
            content_type="application/octet-stream",
            size=len(data),
            uploader="a",
            uploader_role="agent_a",
        )
    return created.id


async def test_attachment_ids_are_checked_in_the_insert(store: Store, commit: Commit) -> None:
    """A message naming uploads of its session commits with them; one naming another
    session's upload or an unknown id is refused (`bad_request`), takes no id and stores
    nothing, and the messages around it commit gap-free."""
    sid, other = await new_session(store), await new_session(store)
    mine, theirs = await upload(store, sid, b"mine"), await upload(store, other, b"theirs")
    unknown = "att_" + "x" * 21
    out = await commit(
        [
            msg(sid, "plain"),
            msg(sid, "with", attachment_ids=[mine]),
            msg(sid, "foreign", attachment_ids=[mine, theirs]),
            msg(sid, "unknown", attachment_ids=[unknown]),
            msg(sid, "after", parent_id=2, attachment_ids=[mine]),
        ]
    )
    plain, with_, foreign, unknown_, after = out.results
    assert not isinstance(plain, HubError) and plain[0].attachment_ids == []
    assert not isinstance(with_, HubError) and with_[0].attachment_ids == [mine]
    for refused in (foreign, unknown_):
        assert isinstance(refused, HubError) and refused.code == "bad_request"
        assert "attachment" in refused.message
    assert not isinstance(after, HubError) and (after[0].id, after[0].parent_id) == (3, 2)
    async with store.connection() as conn:
        stored = await list_messages(conn, sid)
    assert [(m.id, m.content, m.attachment_ids) for m in stored] == [
        (1, "plain", []),
        (2, "with", [mine]),
        (3, "after", [mine]),
    ]


async def test_a_batch_without_attachments_uses_the_statement_of_old(store: Store) -> None:
    """Messages without attachment ids travel to PostgreSQL without the field, and the
    one-statement path runs the statement it ran before attachments existed (no look-up
    of attachments); one naming an upload runs the variant that checks it."""
    import msgspec

    from hub.store.message_fresh import _fresh_statement

    plain = msg("ses_x", "plain")
    assert b"attachment_ids" not in msgspec.json.encode(plain)
    assert "attachments a" not in _fresh_statement(False, False)
    assert "attachments a" not in _fresh_statement(True, False)
    assert "FROM attachments a" in _fresh_statement(False, True)
    assert "FROM attachments a" in _fresh_statement(True, True)
