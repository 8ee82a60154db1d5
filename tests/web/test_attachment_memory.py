"""An attachment is streamed both ways in bounded memory: a real `hub serve` process
takes a 50 MB upload and serves it back, and its peak resident memory (VmHWM) grows by
far less than the attachment, so the process never holds it whole."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.scale.conftest import HubProcess
from tests.web.test_export_memory import peak_rss, server

__all__ = ["server"]  # the fixture, used here too

pytestmark = pytest.mark.timeout(120)

SIZE = 50 * 1000 * 1000
GROWTH_LIMIT = 20 * 1024 * 1024
"""What the peak may grow by over the 50 MB upload and download."""


async def send(
    http: aiohttp.ClientSession, base: str, session: dict[str, str], size: int, seed: bytes
) -> tuple[dict[str, object], str]:
    """Upload `size` pseudo-random bytes without holding them: the answer and their hash."""
    digest = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        block = hashlib.sha256(seed).digest() * 2048  # 64 KiB
        for n in range(0, size, len(block)):
            chunk = (n.to_bytes(8, "big") + block)[: min(len(block), size - n)]
            digest.update(chunk)
            yield chunk

    async with http.post(
        f"{base}/api/sessions/{session['id']}/attachments",
        data=body(),
        params={"name": "big.bin"},
        headers={"Authorization": f"Bearer {session['a']}"},
    ) as resp:
        answer = await resp.json()
        assert resp.status == 201, answer
    return answer, digest.hexdigest()


async def receive(
    http: aiohttp.ClientSession, base: str, session: dict[str, str], attachment_id: str
) -> tuple[int, str]:
    """Download an attachment keeping none of it: its size and hash."""
    digest, size = hashlib.sha256(), 0
    async with http.get(
        f"{base}/api/sessions/{session['id']}/attachments/{attachment_id}/content",
        headers={"Authorization": f"Bearer {session['obs']}"},
    ) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


async def test_a_50_mb_attachment_goes_up_and_down_in_bounded_memory(
    server: HubProcess,
) -> None:
    """After a small upload and download (to load every code path), uploading 50 MB and
    downloading it whole grows the server's peak memory by under 20 MB."""
    assert server.proc is not None
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.base}/api/sessions", json={}) as resp:
            created = await resp.json()
        session = {
            "id": created["session"]["id"],
            "a": created["agent_token"],
            "obs": created["observer_token"],
        }
        small, _ = await send(http, server.base, session, 1_000_000, b"warm")
        await receive(http, server.base, session, str(small["id"]))
        before = peak_rss(server.proc.pid)
        big, sent_hash = await send(http, server.base, session, SIZE, b"big")
        assert big["size"] == SIZE and big["sha256"] == sent_hash
        size, got_hash = await receive(http, server.base, session, str(big["id"]))
        after = peak_rss(server.proc.pid)
    assert (size, got_hash) == (SIZE, sent_hash)
    growth = after - before
    print(f"peak RSS {before >> 20} MB -> {after >> 20} MB over a {SIZE // 10**6} MB round trip")
    assert growth < GROWTH_LIMIT, f"peak grew {growth >> 20} MB over a 50 MB round trip"
