"""What a bot author meets first with the SDK: history by default, their own messages told
apart, oversized frames and absent hubs refused at once, handlers, and every session
action at hand."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.client import (
    HubAPI,
    HubClientError,
    HubTimeout,
    HubUnavailable,
    PayloadTooLarge,
    Session,
    SessionDeleted,
    connect,
)
from hub.protocol import MessageEvent, NoteEvent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def two_agents(base: str) -> tuple[str, str, str]:
    async with HubAPI(base) as rest:
        created = await rest.create_session(agent_id="ada")
        joined = await rest.join(created.invite_code, agent_id="bob")
    return created.agent_token, joined.token, created.observer_token


async def test_ping_pong_from_the_readme(hub_server: TestServer) -> None:
    """Bot B connects after A's first message and still sees it (history by default), so a
    ping-pong written from the README does not deadlock; neither sees its own messages
    with `own_messages=False`."""
    base = str(hub_server.make_url(""))
    a_token, b_token, _ = await two_agents(base)

    async def pinger(session: Session) -> list[str]:
        heard: list[str] = []
        async for event in session:
            if isinstance(event, MessageEvent):
                assert not session.is_mine(event)
                heard.append(event.message.content)
                n = int(event.message.content.split()[1])
                if n == 3:
                    return heard
                await session.reply(event, f"ping {n + 1}")
        return heard

    async def ponger(session: Session) -> list[str]:
        heard: list[str] = []
        async for event in session:
            if isinstance(event, MessageEvent):
                assert not session.is_mine(event)
                heard.append(event.message.content)
                n = int(event.message.content.split()[1])
                await session.reply(event, f"pong {n}")
                if n == 3:
                    return heard
        return heard

    async with asyncio.timeout(20), connect(base, a_token, own_messages=False) as a:
        await a.send("ping 0")  # before B is even connected
        async with connect(base, b_token, own_messages=False) as b:
            heard_a, heard_b = await asyncio.gather(pinger(a), ponger(b))
    assert heard_b == ["ping 0", "ping 1", "ping 2", "ping 3"]
    assert heard_a == ["pong 0", "pong 1", "pong 2", "pong 3"]


async def test_live_only_when_asked(hub_server: TestServer) -> None:
    """`since=None` starts live: earlier messages are not delivered, later ones are."""
    base = str(hub_server.make_url(""))
    a_token, b_token, _ = await two_agents(base)
    async with connect(base, a_token) as a:
        await a.send("before")
        async with connect(base, b_token, since=None) as b:
            await a.send("after")
            async with asyncio.timeout(10):
                event = await b.next_event()
                while not isinstance(event, MessageEvent):
                    event = await b.next_event()
            assert event.message.content == "after"


async def test_oversized_send_raises_at_once_and_is_never_replayed(
    hub_server: TestServer,
) -> None:
    """A send over the hub's frame limit raises PayloadTooLarge without reconnecting; the
    session goes on working."""
    base = str(hub_server.make_url(""))
    a_token, _, _ = await two_agents(base)
    async with connect(base, a_token) as a:
        limit = a.hello.max_frame_bytes if a.hello else 0
        assert limit > 0
        with pytest.raises(PayloadTooLarge):
            async with asyncio.timeout(5):
                await a.send("x" * limit)
        assert a.reconnects == 0
        assert (await a.send("small")).content == "small"
        assert a.reconnects == 0


async def test_nothing_listening_raises_hub_unavailable() -> None:
    """Connecting where no hub listens raises HubUnavailable within `connect_timeout`."""
    base = f"http://127.0.0.1:{free_port()}"
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(HubUnavailable):
        async with asyncio.timeout(10), connect(base, "agt_x", connect_timeout=1.5):
            pass
    assert loop.time() - start < 5


@pytest.fixture
async def silent_hub() -> AsyncIterator[tuple[str, list[web.WebSocketResponse]]]:
    """A websocket server that accepts connections and never says anything: a hub that
    went quiet."""
    sockets: list[web.WebSocketResponse] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.append(ws)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")), sockets
    finally:
        await server.close()


async def test_a_hub_that_never_says_hello_times_out(
    silent_hub: tuple[str, list[web.WebSocketResponse]],
) -> None:
    """A server that accepts the websocket but never sends hello makes `connect` raise
    HubUnavailable within `connect_timeout`, not hang."""
    base, sockets = silent_hub
    with pytest.raises(HubUnavailable):
        async with asyncio.timeout(10), connect(base, "agt_x", connect_timeout=1.0):
            pass
    assert sockets


async def test_a_request_without_answer_times_out(hub_server: TestServer) -> None:
    """An action the hub does not answer within `request_timeout` raises HubTimeout."""
    base = str(hub_server.make_url(""))
    a_token, _, _ = await two_agents(base)
    async with connect(base, a_token, request_timeout=0.5) as a:
        a._live.clear()  # as if the connection had just dropped: frames wait to be re-sent
        with pytest.raises(HubTimeout):
            async with asyncio.timeout(5):
                await a.send("never answered")


async def test_a_frame_the_hub_would_refuse_is_refused_before_it_is_sent(
    hub_server: TestServer,
) -> None:
    """Actions whose frame the hub's decoder refuses raise HubClientError bad_request at
    once, without sending it (a sent frame would wait here and time out)."""
    base = str(hub_server.make_url(""))
    a_token, _, _ = await two_agents(base)
    async with connect(base, a_token, request_timeout=0.5) as a:
        a._live.clear()  # as if the connection had just dropped: frames wait to be re-sent
        deep: dict[str, object] = {}
        for _ in range(40):
            deep = {"x": deep}
        refused: list[Callable[[], Awaitable[object]]] = [
            lambda: a.set_presence("working", "x" * 201),
            lambda: a.create_note("", "a note needs a title"),
            lambda: a.send("deep", metadata=deep),
            lambda: a.send("-", parent_id=0),
        ]
        for action in refused:
            with pytest.raises(HubClientError) as raised:
                async with asyncio.timeout(5):
                    await action()
            assert raised.value.code == "bad_request"
        a._live.set()
        assert (await a.send("fine")).content == "fine"


async def test_handlers_receive_events_in_order(hub_server: TestServer) -> None:
    """Handlers registered with `on` get the events of their type, in order, and `run`
    returns after `stop`."""
    base = str(hub_server.make_url(""))
    a_token, b_token, _ = await two_agents(base)
    async with connect(base, a_token) as a, connect(base, b_token) as b:
        got: list[str] = []
        notes: list[int] = []

        @b.on(MessageEvent)
        async def on_message(event: MessageEvent) -> None:
            got.append(event.message.content)
            if event.message.content == "3":
                b.stop()

        @b.on(NoteEvent)
        def on_note(event: NoteEvent) -> None:
            notes.append(event.note.version)

        await a.create_note("Plan", "x")
        for i in (1, 2, 3):
            await a.send(str(i))
        async with asyncio.timeout(10):
            await b.run()
    assert got == ["1", "2", "3"]
    assert notes == [1]


async def test_every_session_action_is_at_hand(hub_server: TestServer) -> None:
    """Agent A pauses, resumes, renames, reads the invite, reads files, notes and history,
    edits a note it has not seen, completes, and deletes the session."""
    base = str(hub_server.make_url(""))
    a_token, b_token, _ = await two_agents(base)
    async with connect(base, b_token) as b:
        note = await b.create_note("Plan", "one")
        await b.write_file("src/a.py", "print(1)")
        await b.send("hello")
    async with connect(base, a_token) as a:
        assert (await a.pause()).status == "paused"
        assert (await a.resume()).status == "active"
        assert (await a.rename("Parser")).name == "Parser"
        invite = await a.invite()
        assert (await a.rotate_invite()).invite_code != invite.invite_code
        assert (await a.read_file("src/a.py")).content == "print(1)"
        assert [f.path for f in await a.list_files()] == ["src/a.py"]
        assert [n.title for n in await a.list_notes()] == ["Plan"]
        a.notes.clear()  # an edit of a note whose content this session has not seen
        edited = await a.edit_note(note.id, lambda n: n.content + " two")
        assert edited.content == "one two" and edited.version == 2
        assert [m.content for m in await a.history()] == ["hello"]
        assert {p.participant_id for p in await a.presence()} >= {"ada", "bob"}
        assert (await a.complete()).status == "completed"
        with pytest.raises(HubClientError) as refused:
            await a.send("after the end")
        assert refused.value.code == "session_completed"
        await a.delete()
        with pytest.raises(SessionDeleted):
            async with asyncio.timeout(10):
                async for _ in a:
                    pass


def readme_example() -> str:
    """The first Python example of the README's "From Python" section."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("### From Python") :]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


async def test_readme_example_answers_and_stops_quietly_on_ctrl_c(
    hub_server: TestServer,
) -> None:
    """The README's bot, run as written against a real hub, answers another agent's
    message, and Ctrl+C ends it with exit code 0 and no traceback."""
    base = str(hub_server.make_url("")).rstrip("/")
    code = readme_example().replace("http://127.0.0.1:8080", base)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            assert proc.stdout is not None
            line = (await proc.stdout.readline()).decode()
            assert line.startswith("invite code:"), line
            async with HubAPI(base) as rest:
                joined = await rest.join(line.split(":", 1)[1].strip(), agent_id="coder")
            async with connect(base, joined.token, own_messages=False) as coder:
                sent = await coder.send("tokenizer done")
                printed = (await proc.stdout.readline()).decode()
                assert printed.strip() == f"{sent.id} tokenizer done"
                event = await coder.next_event()
                while not (isinstance(event, MessageEvent) and event.message.content == "noted"):
                    event = await coder.next_event()
                assert event.message.parent_id == sent.id
            proc.send_signal(signal.SIGINT)
            assert proc.stderr is not None
            errors = (await proc.stderr.read()).decode()
            assert await proc.wait() == 0, errors
        assert "Traceback" not in errors, errors
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
