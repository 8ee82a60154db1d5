"""Batched message inserts: gap-free ids, idempotent retries, refusals that isolate."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from hub.domain import Message
from hub.errors import HubError
from hub.store import Store
from hub.store import sessions as session_store
from hub.store.messages import NewMessage, insert_batch, list_messages


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


def msg(session_id: str, content: str, cid: str | None = None, **kw: object) -> NewMessage:
    return NewMessage(
        session_id=session_id,
        author_id="a",
        author_role="agent_a",
        content=content,
        client_msg_id=cid,
        **kw,
    )  # type: ignore[arg-type]


async def test_batch_assigns_consecutive_ids_per_session(store: Store) -> None:
    """A batch spanning two sessions numbers each session 1, 2, 3… in input order."""
    s1, s2 = await new_session(store), await new_session(store)
    async with store.transaction() as conn:
        out = await insert_batch(conn, [msg(s1, "a"), msg(s2, "x"), msg(s1, "b"), msg(s1, "c")])
    ids = [(r[0].session_id, r[0].id) for r in out.results if not isinstance(r, HubError)]
    assert ids == [(s1, 1), (s2, 1), (s1, 2), (s1, 3)]
    async with store.connection() as conn:
        assert [m.content for m in await list_messages(conn, s1)] == ["a", "b", "c"]
        session = await session_store.get_session(conn, s1)
    assert session.last_message_id == 3


async def test_retried_client_msg_id_returns_the_original(store: Store) -> None:
    """The same client_msg_id, in a later batch or twice in one, makes one message."""
    sid = await new_session(store)
    async with store.transaction() as conn:
        first = await insert_batch(conn, [msg(sid, "one", "k1"), msg(sid, "one again", "k1")])
    async with store.transaction() as conn:
        again = await insert_batch(conn, [msg(sid, "retry", "k1"), msg(sid, "two", "k2")])
    (m1, dup1), (m1b, dup1b) = first.results  # type: ignore[misc]
    (m2, dup2), (m3, dup3) = again.results  # type: ignore[misc]
    assert isinstance(m1, Message) and not dup1
    assert dup1b and m1b.id == m1.id
    assert dup2 and m2.id == m1.id and m2.content == "one"
    assert not dup3 and m3.id == 2


async def test_refused_items_do_not_leave_gaps(store: Store) -> None:
    """A refused item (bad parent, missing attachment) takes no id; the rest commit."""
    sid = await new_session(store)
    async with store.transaction() as conn:
        out = await insert_batch(
            conn,
            [
                msg(sid, "ok"),
                msg(sid, "reply to nothing", parent_id=7),
                msg(sid, "with missing file", attachments=["nope.txt"]),
                msg(sid, "reply", parent_id=1),
            ],
        )
    kinds = [r.code if isinstance(r, HubError) else r[0].id for r in out.results]
    assert kinds == [1, "bad_request", "bad_request", 2]


async def test_completed_session_takes_no_messages(store: Store) -> None:
    """Messages to a completed session are refused with session_completed."""
    sid = await new_session(store)
    async with store.transaction() as conn:
        await session_store.update_session(conn, sid, status="completed")
        out = await insert_batch(conn, [msg(sid, "late")])
    assert isinstance(out.results[0], HubError)
    assert out.results[0].code == "session_completed"


async def test_first_chat_message_names_the_session(store: Store) -> None:
    """An unnamed session takes its name from the first chat message, once."""
    sid = await new_session(store)
    named = await new_session(store, name="Kept")
    async with store.transaction() as conn:
        out = await insert_batch(
            conn,
            [
                msg(sid, "status", msg_type="status"),
                msg(sid, "Design the API\nbody"),
                msg(sid, "Second"),
                msg(named, "Ignored"),
            ],
        )
    assert out.renamed == [(sid, "Design the API")]
    async with store.connection() as conn:
        assert (await session_store.get_session(conn, sid)).name == "Design the API"
        assert (await session_store.get_session(conn, named)).name == "Kept"


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


async def test_client_msg_id_is_per_author(store: Store) -> None:
    """Two participants who pick the same client_msg_id each get their own message."""
    sid = await new_session(store)
    theirs = NewMessage(
        session_id=sid, author_id="b", author_role="agent_b", content="from b", client_msg_id="m1"
    )
    async with store.transaction() as conn:
        first = await insert_batch(conn, [msg(sid, "from a", "m1"), theirs])
    async with store.transaction() as conn:
        again = await insert_batch(conn, [theirs])
    (a, dup_a), (b, dup_b) = first.results  # type: ignore[misc]
    assert (a.id, b.id, dup_a, dup_b) == (1, 2, False, False)
    (b2, dup) = again.results[0]  # type: ignore[misc]
    assert dup and b2.id == 2 and b2.content == "from b"


async def test_a_retry_committed_between_look_up_and_lock_yields_the_original(
    store: Store,
) -> None:
    """The group commit reads retried client_msg_ids before it takes the session locks.
    If the same message commits in that window, the batch is committed again under the
    locks: the sender gets the original back, and nothing is lost or doubled."""
    from hub.store.writer import GroupCommitter

    sid = await new_session(store)
    committed: list[int] = []

    async def on_commit(messages: list[Message], renamed: list[tuple[str, str]]) -> None:
        committed.extend(m.id for m in messages)

    writer = GroupCommitter(store, on_commit, workers=1)
    writer.start()
    try:
        async with store.transaction() as holder:
            # Hold the session lock, so the writer stops right after its look-up.
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
        assert committed == [2]
        async with store.connection() as conn:
            assert [m.content for m in await list_messages(conn, sid)] == ["hello", "next"]
    finally:
        await writer.close()
