"""`hub demo`: two scripted bots collaborate in a session, on a hub of their own (the
embedded PostgreSQL unless one is configured) or on one given by URL."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hub.client import Conflict, HubAPI, Session, connect
from hub.commands import CommandError, describe, out
from hub.config import Config
from hub.domain import Note, Presence
from hub.protocol import PresenceEvent, SessionEvent

__all__ = ["demo"]


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
    from hub.operate import with_secret_key
    from hub.web.server import HubRunner

    config = with_secret_key(config)
    embedded = None
    url = config.database_url
    if not url:
        from hub.embedded import DataDirBusy, EmbeddedPostgres

        embedded = EmbeddedPostgres(Path(config.data_dir) / "postgres")
        try:
            embedded.lock()
        except DataDirBusy as exc:
            raise CommandError(
                f"{exc}, which serves alone on it (the in-memory bus): run the demo on that"
                " hub with `hub demo --url URL`, or stop it first",
                exit_code=1,
            ) from None
        out(f"demo: starting the embedded PostgreSQL in {embedded.data_dir} ...")
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


async def demo(config: Config, url: str | None, pace: float | None, stay: bool) -> int:
    """Two scripted bots collaborate: messages, a file, a note both edit at once (one
    gets a conflict and merges), and the session completed at the end. With `stay`, the
    bots wait for someone to open the link, go at a human pace, and the hub stays up."""
    step = pace if pace is not None else (3.0 if stay else 0.8)
    if url:
        return await _run_demo(url.rstrip("/"), step, stay, keep_up=False)
    async with _own_hub(config) as base:
        return await _run_demo(base, step, stay, keep_up=stay)


class _Transcript:
    """What agent A's connection sees, printed as it arrives; tells who is watching."""

    def __init__(self, session: Session) -> None:
        self.session = session
        assert session.hello is not None
        self.watched = asyncio.Event()
        self.completed = asyncio.Event()
        if any(_watching(p) for p in session.hello.presence):
            self.watched.set()

    async def run(self) -> None:
        async for event in self.session:
            out("  " + describe(event))
            if isinstance(event, PresenceEvent) and _watching(event.presence):
                self.watched.set()
            if isinstance(event, SessionEvent) and event.session.status == "completed":
                self.completed.set()


def _watching(p: Presence) -> bool:
    return p.role == "observer" and p.status != "offline"


async def _run_demo(url: str, pace: float, stay: bool, *, keep_up: bool) -> int:
    async def step() -> None:
        if pace:
            await asyncio.sleep(pace)

    async with HubAPI(url) as rest:
        created = await rest.create_session(name="Demo: tidy up the README", agent_id="planner")
        out(f"demo: hub at {url}")
        out(f"demo: invite code {created.invite_code}")
        out(f"demo: watch at {url}/join/{created.invite_code}")
        async with connect(url, created.agent_token) as planner:
            transcript = _Transcript(planner)
            printing = asyncio.create_task(transcript.run(), name="demo-transcript")

            async def stop_printing() -> None:
                printing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await printing

            try:
                if stay and not transcript.watched.is_set():
                    out("demo: open that link in a browser: the bots start once someone watches")
                    await transcript.watched.wait()
                    out(f"demo: someone is watching; the bots start (one step every {pace:g} s)")
                joined = await rest.join(created.invite_code, agent_id="coder")
                async with connect(url, joined.token) as coder:
                    await _conversation(planner, coder, step)
                    async with asyncio.timeout(10):
                        await transcript.completed.wait()
                    await stop_printing()  # the transcript ends with the session completed
            finally:
                await stop_printing()
    if keep_up:
        out("demo: the session is completed; the hub stays up so you can look around (Ctrl+C)")
        await asyncio.Event().wait()
    return 0


async def _conversation(planner: Session, coder: Session, step: Any) -> None:
    first = await planner.send("Hi! Let's tidy up the README. I'll outline it in the notes.")
    await step()
    outline = await planner.create_note("Outline", "# README\n- Install\n- Usage")
    await step()
    await coder.reply(first, "Sounds good. I'll write the usage section.")
    await coder.set_presence("working", "writing docs/usage.md")
    await step()
    await coder.write_file(
        "docs/usage.md", "# Usage\n\nRun `./scripts/serve`, then open the page.\n"
    )
    await coder.send("Usage section written.", msg_type="action", attachments=["docs/usage.md"])
    await step()
    await planner.send(
        "Let's both add to the outline: I'll add Operations, you add Troubleshooting.",
        msg_type="handoff",
    )
    await step()

    async def add(bot: Session, line: str) -> Note:
        """Edit the version both bots saw; the one that comes second has a conflict, and
        merges by re-applying its change to the version that won (`edit_note`)."""
        try:
            return await bot.update_note(
                outline.id, outline.content + line, expected_version=outline.version
            )
        except Conflict as conflict:
            assert conflict.note is not None
            who = bot.you.participant_id
            out(
                f"demo: conflict! {who} edited v{outline.version} of the Outline, but"
                f" v{conflict.note.version} was saved meanwhile; {who} merges its change"
                f" into v{conflict.note.version}"
            )
            return await bot.edit_note(outline.id, lambda current: current.content + line)

    notes = await asyncio.gather(add(planner, "\n- Operations"), add(coder, "\n- Troubleshooting"))
    merged = max(notes, key=lambda n: n.version)
    lines = " | ".join(merged.content.splitlines())
    out(f"demo: the Outline v{merged.version} has both edits: {lines}")
    await step()
    await coder.set_presence("online")
    await coder.send("Reviewed: the outline is complete. Done!", msg_type="status")
    await step()
    await planner.send("Thanks! Wrapping up: I'm completing the session.")
    await planner.complete()
