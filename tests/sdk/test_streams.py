"""The SDK streams a message from an async iterator: whole and once across a drop,
seen live by others, aborted when the iterator fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from hub.client import HubAPI, connect
from hub.protocol import MessageEvent, StreamDeltaEvent, StreamEndedEvent, StreamStartedEvent
from tests.sdk.test_client import drop_all

TIMEOUT = 10.0


async def test_stream_commits_the_whole_text_once_across_a_drop(hub_server: TestServer) -> None:
    """`session.stream(chunks)` returns the committed message with every chunk once,
    though the connection drops mid-stream; a watcher sees it start, grow and end."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        created = await rest.create_session()
    chunks = [f"word{i} " for i in range(40)]

    async def model() -> AsyncIterator[str]:
        for i, chunk in enumerate(chunks):
            if i == 20:
                await drop_all(hub_server)
            yield chunk

    async with (
        connect(base, created.agent_token) as agent,
        connect(base, created.observer_token, since=None) as watcher,
    ):
        message = await agent.stream(model(), msg_type="status")
        assert message.content == "".join(chunks) and message.msg_type == "status"
        assert agent.reconnects >= 1
        seen: list[object] = []
        text = ""
        async with asyncio.timeout(TIMEOUT):
            async for event in watcher:
                seen.append(type(event))
                if isinstance(event, StreamStartedEvent) and len(event.text) > len(text):
                    text = event.text  # a catch-up after the drop: the text so far
                if isinstance(event, StreamDeltaEvent):
                    text = text[: event.offset] + event.text
                if isinstance(event, StreamEndedEvent):
                    assert event.message_id == message.id and not event.aborted
                if isinstance(event, MessageEvent):
                    assert event.message.id == message.id
                if StreamEndedEvent in seen and MessageEvent in seen:
                    break
        assert seen.index(StreamStartedEvent) < seen.index(StreamDeltaEvent)
        assert text == message.content
        history = await agent.history()
        assert [m.content for m in history] == [message.content]


async def test_a_failing_iterator_aborts_the_stream(hub_server: TestServer) -> None:
    """The iterator's error is raised, the stream ends aborted, nothing is committed."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        created = await rest.create_session()

    async def broken() -> AsyncIterator[str]:
        yield "partial "
        raise RuntimeError("the model went away")

    async with (
        connect(base, created.agent_token) as agent,
        connect(base, created.observer_token, since=None) as watcher,
    ):
        with pytest.raises(RuntimeError, match="went away"):
            await agent.stream(broken())
        async with asyncio.timeout(TIMEOUT):
            async for event in watcher:
                if isinstance(event, StreamEndedEvent):
                    assert event.aborted and event.reason == "cancelled"
                    break
        assert await agent.history() == []
