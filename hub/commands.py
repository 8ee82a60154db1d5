"""The `hub` commands for people, built on the SDK: create and join sessions, watch one
live in the terminal, send a message, and run a demo of two bots collaborating."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

from hub.client import HubAPI, connect
from hub.config import Config
from hub.domain import Message, MsgType
from hub.protocol import Event, FileEvent, MessageEvent, NoteEvent, PresenceEvent, SessionEvent

__all__ = ["create_session", "demo", "join", "send", "watch"]

ROLE = {"agent_a": "agent A", "agent_b": "agent B", "observer": "observer", "system": "system"}


def _out(line: str, stream: TextIO | None = None) -> None:
    print(line, file=stream or sys.stdout, flush=True)


def describe_message(m: Message) -> str:
    kind = "" if m.msg_type == "chat" else f" [{m.msg_type}]"
    reply = f" (re #{m.parent_id})" if m.parent_id else ""
    files = f" (attached: {', '.join(m.attachments)})" if m.attachments else ""
    stamp = m.created_at.astimezone().strftime("%H:%M:%S")
    return f"#{m.id} {stamp} {m.author_id} ({ROLE[m.author_role]}){kind}{reply}: {m.content}{files}"


def describe(event: Event) -> str:
    """One readable line per event, for terminals and transcripts."""
    if isinstance(event, MessageEvent):
        return describe_message(event.message)
    if isinstance(event, NoteEvent):
        n = event.note
        return f'note "{n.title}" v{n.version} by {n.last_editor}'
    if isinstance(event, FileEvent):
        f = event.file
        return f"file {f.path} ({f.size} B) by {f.last_editor}"
    if isinstance(event, PresenceEvent):
        p = event.presence
        doing = f": {p.activity}" if p.activity else ""
        name = p.display_name or p.participant_id
        return f"{name} ({ROLE[p.role]}) is {p.status}{doing}"
    if isinstance(event, SessionEvent):
        s = event.session
        return "session deleted" if event.deleted else f'session "{s.name}" is {s.status}'
    return repr(event)


async def create_session(url: str, name: str | None, agent_id: str | None) -> int:
    async with HubAPI(url) as rest:
        fields: dict[str, Any] = {}
        if name:
            fields["name"] = name
        if agent_id:
            fields["agent_id"] = agent_id
        created = await rest.create_session(**fields)
    _out(f"session:        {created.session.id}")
    _out(f"agent A:        {created.participant_id}")
    _out(f"agent token:    {created.agent_token}")
    _out(f"observer token: {created.observer_token}")
    expires = f"{created.invite_expires_at:%Y-%m-%d %H:%M} UTC"
    _out(f"invite code:    {created.invite_code}  (expires {expires})")
    _out(f"watch it at:    {url.rstrip('/')}/join/{created.invite_code}")
    return 0


async def join(url: str, code: str, role: str, agent_id: str | None, name: str | None) -> int:
    async with HubAPI(url) as rest:
        joined = await rest.join(code, role=role, agent_id=agent_id, display_name=name)
    _out(f"session: {joined.session.id} ({joined.session.name})")
    _out(f"you:     {joined.participant_id} ({ROLE[joined.role]})")
    _out(f"token:   {joined.token}")
    return 0


async def send(url: str, token: str, content: str, msg_type: MsgType) -> int:
    async with connect(url, token, since=None) as session:
        message = await session.send(content, msg_type=msg_type)
    _out(describe_message(message))
    return 0


async def watch(
    url: str, code: str | None, token: str | None, name: str | None, limit: int | None
) -> int:
    """Print the session's history, then everything live, one line per event."""
    if token is None:
        assert code is not None
        async with HubAPI(url) as rest:
            token = (await rest.join(code, role="observer", display_name=name)).token
    async with connect(url, token, since=0) as session:
        assert session.hello is not None
        s = session.hello.session
        you = session.you.participant_id
        _out(f'watching "{s.name}" ({s.status}, {s.mode}) as {you}; Ctrl+C to stop')
        count = 0
        async for event in session:
            _out(describe(event))
            if isinstance(event, MessageEvent):
                count += 1
                if limit is not None and count >= limit:
                    break
    return 0


# --- demo -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _own_hub(config: Config) -> AsyncIterator[str]:
    """A hub in this process (with the embedded PostgreSQL unless one is configured)."""
    import msgspec
    from aiohttp import web

    from hub.app import create_app
    from hub.web.server import HubRunner

    embedded = None
    url = config.database_url
    if not url:
        from hub.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(Path(config.data_dir) / "postgres")
        _out(f"demo: starting the embedded PostgreSQL in {embedded.data_dir} ...")
        url = await asyncio.to_thread(embedded.start)
    port = _free_port()
    app = create_app(msgspec.structs.replace(config, database_url=url, port=port))
    runner = HubRunner(app, header_timeout=config.header_timeout)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, port).start()
        yield f"http://{config.host}:{port}"
    finally:
        await runner.cleanup()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def demo(config: Config, url: str | None, pace: float, stay: bool) -> int:
    """Two scripted bots collaborate: messages, a note edited twice, a file."""
    if url:
        return await _run_demo(url, pace, stay)
    async with _own_hub(config) as base:
        return await _run_demo(base, pace, stay)


async def _run_demo(url: str, pace: float, stay: bool) -> int:
    async with HubAPI(url) as rest:
        created = await rest.create_session(name="Demo: tidy up the README", agent_id="planner")
        _out(f"demo: hub at {url}")
        _out(f"demo: invite code {created.invite_code}")
        _out(f"demo: watch at {url}/join/{created.invite_code}")
        if stay:
            _out("demo: open that page now; the bots start in 5 seconds")
            await asyncio.sleep(5)
        joined = await rest.join(created.invite_code, agent_id="coder")

    async def step() -> None:
        if pace:
            await asyncio.sleep(pace)

    seen: dict[int, asyncio.Event] = {}
    async with connect(url, created.agent_token) as planner, connect(url, joined.token) as coder:
        transcript = asyncio.create_task(_transcript(url, created.observer_token, seen))
        first = await planner.send("Hi! Let's tidy up the README. I'll outline it in the notes.")
        await step()
        outline = await planner.create_note("Outline", "# README\n- Install\n- Usage")
        await step()
        await coder.send("Sounds good. I'll write the usage section.", parent_id=first.id)
        await coder.set_presence("working", "writing docs/usage.md")
        await step()
        await coder.write_file(
            "docs/usage.md", "# Usage\n\nRun `./scripts/serve`, then open the page.\n"
        )
        await coder.send("Usage section written.", msg_type="action", attachments=["docs/usage.md"])
        await step()
        await planner.edit_note(outline.id, lambda n: n.content + "\n- Operations")
        await planner.send(
            "Added Operations to the outline. Over to you for review.", msg_type="handoff"
        )
        await step()
        await coder.set_presence("online")
        await coder.send("Reviewed: the outline is complete. Done!", msg_type="status")
        done = await planner.send("Thanks! Wrapping up.")
        await _wait_for_message(transcript, seen, done.id)
    if stay:
        _out("demo: the bots are done; the hub keeps running so you can look around (Ctrl+C)")
        await asyncio.Event().wait()
    return 0


async def _transcript(url: str, token: str, seen: dict[int, asyncio.Event]) -> None:
    """What an observer sees, printed as it arrives."""
    async with connect(url, token, since=0) as watcher:
        async for event in watcher:
            _out("  " + describe(event))
            if isinstance(event, MessageEvent):
                seen.setdefault(event.message.id, asyncio.Event()).set()


async def _wait_for_message(
    transcript: asyncio.Task[None], seen: dict[int, asyncio.Event], message_id: int
) -> None:
    """Let the transcript print up to the last message, then stop it."""
    try:
        async with asyncio.timeout(10):
            await seen.setdefault(message_id, asyncio.Event()).wait()
    finally:
        transcript.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await transcript
