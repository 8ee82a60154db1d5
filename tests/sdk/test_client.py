"""The Python SDK against a real hub: exactly-once delivery across drops, safe retries,
the conflict helper, and the errors an application must handle."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from hub.client import AuthFailed, HubAPI, SessionDeleted, SessionFull, connect
from hub.protocol import MessageEvent
from hub.web.keys import SOCKETS


async def drop_all(server: TestServer) -> None:
    """Close every websocket from the server side, as a failing proxy would."""
    for ws in list(server.app[SOCKETS]):
        await ws.close(code=1011, message=b"dropped by the test")


async def test_exactly_once_in_order_across_drops(
    hub_server: TestServer, database_url: str
) -> None:
    """Two agents send while the server drops every connection twice: the watching
    application sees each message once, in id order, and no send made two messages."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        created = await rest.create_session()
        joined = await rest.join(created.invite_code, agent_id="bee")
    seen: list[int] = []
    total = 240
    async with (
        connect(base, created.agent_token) as a,
        connect(base, joined.token) as b,
        connect(base, created.observer_token) as watcher,
    ):

        async def watch() -> None:
            async for event in watcher:
                if isinstance(event, MessageEvent):
                    seen.append(event.message.id)
                    if len(seen) in (60, 150):
                        await drop_all(hub_server)
                    if len(seen) == total:
                        return

        async def talk(agent: object, name: str) -> list[int]:
            ids = []
            for chunk in range(0, total // 2, 10):
                sent = await asyncio.gather(
                    *(
                        agent.send(f"{name}{i}")
                        for i in range(chunk, chunk + 10)  # type: ignore[attr-defined]
                    )
                )
                ids += [m.id for m in sent]
            return ids

        async with asyncio.timeout(60):
            watching = asyncio.create_task(watch())
            ids_a, ids_b = await asyncio.gather(talk(a, "a"), talk(b, "b"))
            await watching
        assert watcher.reconnects >= 2
    assert seen == list(range(1, total + 1))
    assert sorted(ids_a + ids_b) == list(range(1, total + 1))
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE session_id = $1", created.session.id
        )
    finally:
        await conn.close()
    assert count == total


async def test_edit_note_helper_under_concurrent_editors(hub_server: TestServer) -> None:
    """Six editors append a line each at once: every line survives, one version each."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        created = await rest.create_session()
        joined = await rest.join(created.invite_code)
    tokens = [created.agent_token, joined.token, created.observer_token] * 2
    async with connect(base, created.agent_token) as first:
        note = await first.create_note("Log", "start")
    sessions = [connect(base, t) for t in tokens]
    entered = [await s.__aenter__() for s in sessions]
    try:
        results = await asyncio.gather(
            *(
                s.edit_note(note.id, lambda n, i=i: n.content + f"\nline {i}")
                for i, s in enumerate(entered)
            )
        )
    finally:
        for s in sessions:
            await s.__aexit__(None, None, None)
    final = max(results, key=lambda n: n.version)
    assert final.version == 1 + len(tokens)
    assert sorted(final.content.splitlines()) == sorted(
        ["start"] + [f"line {i}" for i in range(len(tokens))]
    )


async def test_errors_the_application_must_handle(hub_server: TestServer) -> None:
    """A bad token raises AuthFailed; a second agent B gets SessionFull; a deleted
    session ends the event stream with SessionDeleted."""
    base = str(hub_server.make_url(""))
    with pytest.raises(AuthFailed):
        async with connect(base, "agt_" + "x" * 32):
            pass
    async with HubAPI(base) as rest:
        created = await rest.create_session()
        await rest.join(created.invite_code)
        with pytest.raises(SessionFull):
            await rest.join(created.invite_code)
        async with connect(base, created.observer_token) as watcher:
            await rest.request(
                "DELETE", f"/api/sessions/{created.session.id}", token=created.agent_token
            )
            with pytest.raises(SessionDeleted):
                async with asyncio.timeout(10):
                    async for _event in watcher:
                        pass


async def test_rest_helpers_page_through_history(hub_server: TestServer) -> None:
    """The REST helpers create, join, send and read the whole history in order."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        created = await rest.create_session(name="Paged")
        assert created.session.name == "Paged"
        for i in range(1, 13):
            await rest.send(created.session.id, created.agent_token, f"m{i}")
        ids = [m.id async for m in rest.all_messages(created.session.id, created.observer_token)]
        assert ids == list(range(1, 13))
        page = await rest.history(created.session.id, created.agent_token, before=5, limit=2)
        assert [m.id for m in page.messages] == [3, 4]
