"""Slow clients hold sockets for seconds, not minutes: a real `hub serve` closes a
connection whose request header is not complete within HUB_HEADER_TIMEOUT, and a kept-
alive connection idle for HUB_KEEPALIVE_TIMEOUT; normal requests and websockets go on."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession

from tests.helpers import TEST_SECRET_KEY, HubClient
from tests.scale.conftest import HubProcess

HEADER_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 2.0
SLACK = 3.0  # a loaded machine may be late; aiohttp's own default would take 75 s


@pytest.fixture
async def hub_process(database_url: str) -> AsyncIterator[HubProcess]:
    env = {
        **os.environ,
        "HUB_DATABASE_URL": database_url,
        "HUB_SECRET_KEY": TEST_SECRET_KEY,
        "HUB_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "HUB_KEEPALIVE_TIMEOUT": str(KEEPALIVE_TIMEOUT),
        "HUB_LOG_LEVEL": "WARNING",
    }
    env.pop("HUB_REDIS_URL", None)
    proc = HubProcess(env)
    await proc.start()
    try:
        yield proc
    finally:
        await proc.stop()


async def closed_after(reader: asyncio.StreamReader) -> float:
    """Seconds until the server closes the connection (whatever it sent before), with a
    FIN or a reset (a close with bytes it did not read yet is a reset)."""
    start = time.monotonic()
    async with asyncio.timeout(HEADER_TIMEOUT + KEEPALIVE_TIMEOUT + SLACK):
        try:
            while await reader.read(65536):
                pass
        except ConnectionResetError:
            pass
    return time.monotonic() - start


async def test_half_headers_are_cut_off_and_others_are_served(hub_process: HubProcess) -> None:
    """Connections that send half a header, or trickle one, are closed within the header
    timeout; meanwhile a full request is answered and a websocket stays open."""
    async with ClientSession() as http:
        hub = HubClient(http, hub_process.base)
        s = await hub.session_with_b()
        watcher = await hub.connect(s["obs"])

        half = [await asyncio.open_connection("127.0.0.1", hub_process.port) for _ in range(20)]
        for _, writer in half:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        trickle_reader, trickler = await asyncio.open_connection("127.0.0.1", hub_process.port)

        async def trickle() -> None:
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 200:
                if trickler.is_closing():
                    return
                trickler.write(bytes([byte]))
                await asyncio.sleep(0.2)  # the attack's pace, not synchronisation

        dripping = asyncio.create_task(trickle())
        try:
            waits = await asyncio.gather(
                *(closed_after(reader) for reader, _ in half), closed_after(trickle_reader)
            )
            assert max(waits) < HEADER_TIMEOUT + SLACK
            assert (await hub.call("GET", "/healthz"))[0] == 200
            assert (await watcher.request({"type": "ping"}))["type"] == "pong"
        finally:
            dripping.cancel()
            await asyncio.gather(dripping, return_exceptions=True)
            for _, writer in [*half, (None, trickler)]:
                writer.close()


async def test_an_idle_kept_alive_connection_is_closed(hub_process: HubProcess) -> None:
    """After a response, a kept-alive connection that sends nothing more is closed once
    the keep-alive timeout has passed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub_process.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    waited = await closed_after(reader)
    assert KEEPALIVE_TIMEOUT - 0.5 < waited < KEEPALIVE_TIMEOUT + SLACK
    writer.close()
