"""Clients ignore server frame types they do not know (a newer hub's): the SDK, behind a
relay that adds such frames to a real hub's, keeps its session and sees everything else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.client import connect
from hub.protocol import SERVER_FRAME_TYPES, MessageEvent, decode_server_frame
from tests.sdk.test_bot_author import two_agents

TIMEOUT = 10
NEWER = b'{"type":"telepathy","mood":"curious","ref":null}'
"""A frame of a type no version of the hub has sent yet."""


@pytest.fixture
async def newer_hub(hub_server: TestServer) -> AsyncIterator[str]:
    """A relay to the real hub that passes every frame both ways and adds an unknown
    frame after the hub's `hello`, after `resumed` and after every `ack`."""

    async def relay(request: web.Request) -> web.WebSocketResponse:
        client = web.WebSocketResponse()
        await client.prepare(request)
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(
                hub_server.make_url("/ws"),
                params=request.query,
                headers={"Authorization": request.headers.get("Authorization", "")},
            ) as hub,
        ):

            async def upstream() -> None:
                async for msg in client:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        await hub.send_str(msg.data)
                await hub.close()

            going = asyncio.create_task(upstream())
            async for msg in hub:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                await client.send_str(msg.data)
                if msgspec.json.decode(msg.data)["type"] in ("hello", "resumed", "ack"):
                    await client.send_str(NEWER.decode())
            going.cancel()
            await client.close()
        return client

    app = web.Application()
    app.router.add_get("/ws", relay)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url(""))
    finally:
        await server.close()


async def test_the_sdk_ignores_frame_types_it_does_not_know(
    hub_server: TestServer, newer_hub: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Unknown frames before and after `resumed` and between acks: the session stays
    live (no reconnect), actions are acked, and the events come as the hub sent them;
    each unknown frame is logged at debug."""
    a_token, b_token, _ = await two_agents(str(hub_server.make_url("")))
    with caplog.at_level(logging.DEBUG, logger="hub.client"):
        async with connect(newer_hub, a_token) as a, connect(newer_hub, b_token) as b:
            sent = await a.send("hello from a newer hub's era")
            async with asyncio.timeout(TIMEOUT):
                event = await b.next_event()
                while not isinstance(event, MessageEvent):
                    event = await b.next_event()
            assert event.message.id == sent.id
            assert (await b.send("and back")).content == "and back"
            assert a.reconnects == b.reconnects == 0
    ignored = [r for r in caplog.records if "unknown type 'telepathy'" in r.getMessage()]
    assert len(ignored) >= 5 and {r.levelno for r in ignored} == {logging.DEBUG}


def test_decoding_skips_unknown_types_only() -> None:
    """An unknown type decodes to None; a known type that does not decode, or something
    that is no frame, still raises."""
    assert decode_server_frame(NEWER) is None
    assert {"hello", "message", "ack", "error", "approval"} <= SERVER_FRAME_TYPES
    with pytest.raises(msgspec.ValidationError):
        decode_server_frame(b'{"type":"message","message":42}')
    with pytest.raises(msgspec.ValidationError):
        decode_server_frame(b'{"kind":"hello"}')
    with pytest.raises(msgspec.DecodeError):
        decode_server_frame(b"not json")
