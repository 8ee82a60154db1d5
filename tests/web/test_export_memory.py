"""An export is streamed in bounded memory: a real `hub serve` process exports a session
of 10,000 messages and then one of 100,000 (about 110 MB of JSON), and its peak resident
memory (VmHWM) grows by far less than the larger document, so the process never holds
an export whole."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.helpers import TEST_SECRET_KEY
from tests.scale.conftest import HubProcess
from tests.web.test_export import seed_messages

pytestmark = pytest.mark.timeout(300)

MESSAGE_BYTES = 1_000
GROWTH_LIMIT = 30 * 1024 * 1024
"""What the peak may grow by between the two exports; the larger is ~100 MB bigger."""


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[HubProcess]:
    """A `hub serve` process of its own (its memory is what these tests measure)."""
    env = {
        **os.environ,
        "HUB_DATABASE_URL": database_url,
        "HUB_SECRET_KEY": TEST_SECRET_KEY,
        "HUB_LOG_LEVEL": "WARNING",
    }
    env.pop("HUB_REDIS_URL", None)
    proc = HubProcess(env)
    await proc.start()
    try:
        yield proc
    finally:
        await proc.stop()


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


async def export_size(http: aiohttp.ClientSession, base: str, session: dict[str, str]) -> int:
    """Read a session's JSON export as it comes, keeping none of it: its size in bytes
    (after checking it ended whole)."""
    size, tail = 0, b""
    async with http.get(
        f"{base}/api/sessions/{session['id']}/export",
        headers={"Authorization": f"Bearer {session['token']}"},
    ) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            tail = (tail + chunk)[-64:]
    assert tail.endswith(b',"complete":true}\n')
    return size


async def test_peak_memory_does_not_grow_with_the_session(
    server: HubProcess, database_url: str
) -> None:
    """Exporting 100,000 messages after 10,000 leaves the server's peak memory within
    30 MB of where it was, though the document is about 100 MB larger."""
    assert server.proc is not None
    async with aiohttp.ClientSession() as http:
        sessions = []
        for count in (10_000, 100_000):
            async with http.post(f"{server.base}/api/sessions", json={}) as resp:
                created = await resp.json()
            session = {"id": created["session"]["id"], "token": created["observer_token"]}
            await seed_messages(database_url, session["id"], count, MESSAGE_BYTES)
            sessions.append(session)
        small = await export_size(http, server.base, sessions[0])
        after_small = peak_rss(server.proc.pid)
        large = await export_size(http, server.base, sessions[1])
        after_large = peak_rss(server.proc.pid)
    assert small > 10_000 * MESSAGE_BYTES and large > 100_000 * MESSAGE_BYTES
    assert large - small > 3 * GROWTH_LIMIT  # the limit would catch a buffered export
    growth = after_large - after_small
    assert growth < GROWTH_LIMIT, f"peak grew {growth >> 20} MB over a {large >> 20} MB export"
