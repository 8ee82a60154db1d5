"""Floods, slow consumers, dead peers and shutdown: the hub protects everyone else."""

import asyncio
from typing import Any

from aiohttp import WSCloseCode

from tests.helpers import HubClient, Peer


async def metric(hub: HubClient, name: str, **labels: str) -> str:
    """One figure from the hub's /metrics ("" if it has not appeared yet)."""
    return await hub.metric(name, **labels)


async def closed_4008(hub: HubClient) -> str:
    """How many websockets the hub closed as too slow (4008), per its /metrics."""
    return await metric(hub, "hub_websocket_closes_total", code="4008")


async def test_flood_is_rate_limited_then_closed(make_client: Any) -> None:
    """Frames beyond the rate get `rate_limited` errors; a sustained flood closes 4029."""
    hub: HubClient = await make_client(rate_per_second=5.0, rate_burst=10)
    s = await hub.session_with_b()
    a, b = await hub.connect(s["a"]), await hub.connect(s["b"])
    for i in range(15):
        await a.send({"type": "ping", "ref": f"p{i}"})
    await a.wait(lambda: len([f for f in a.frames if f["type"] in ("pong", "error")]) >= 15)
    limited = [f for f in a.frames if f["type"] == "error" and f["code"] == "rate_limited"]
    assert 3 <= len(limited) <= 5 and limited[0]["ref"] is not None
    for i in range(40):
        await a.send({"type": "ping", "ref": f"q{i}"})
    assert await a.closed() == 4029
    assert (await b.request({"type": "ping"}))["type"] == "pong"


async def test_slow_consumer_is_closed_with_resume_code(make_client: Any) -> None:
    """A client that stops reading is cut off with 4008; the others keep receiving, and
    the slow one resumes with since and gets everything."""
    hub: HubClient = await make_client(send_queue_frames=16, commit_batch_max=4)
    s = await hub.session_with_b()
    a = await hub.connect(s["a"])
    b = await hub.connect(s["b"])
    slow = await hub.http.ws_connect(
        hub.base + "/ws", headers={"Authorization": f"Bearer {s['obs']}"}, max_msg_size=0
    )
    big = "x" * 60_000
    sent = 0
    while True:  # fill the slow client's socket buffers, then its queue
        await asyncio.gather(*(a.say(big) for _ in range(10)))
        sent += 10
        closed = await closed_4008(hub)
        if closed == "1" or sent >= 600:
            break
    assert closed == "1"
    await b.wait(lambda: len(b.message_ids()) == sent)
    assert b.message_ids() == list(range(1, sent + 1))
    frames: list[Any] = []
    async with asyncio.timeout(30):
        async for msg in slow:
            frames.append(msg)
    assert slow.close_code == 4008
    resumed = await hub.connect(s["obs"], since=0)
    await resumed.wait(lambda: len(resumed.message_ids()) == sent)
    assert resumed.message_ids() == list(range(1, sent + 1))


async def test_a_peer_that_never_reads_again_is_cut_off(make_client: Any) -> None:
    """A client that stops reading for good does not hold its socket, its queue and its
    buffers forever: once its close frame has waited a heartbeat interval, it is cut off."""
    hub: HubClient = await make_client(
        send_queue_frames=16, commit_batch_max=4, heartbeat_interval=5.0, rate_burst=1000
    )
    s = await hub.session_with_b()
    a = await hub.connect(s["a"])
    silent = await hub.http.ws_connect(  # and never read from it
        hub.base + "/ws", headers={"Authorization": f"Bearer {s['obs']}"}, max_msg_size=0
    )

    big = "x" * 60_000
    for _ in range(60):  # fill its socket buffers, then its queue
        await asyncio.gather(*(a.say(big) for _ in range(10)))
        if await closed_4008(hub) == "1":
            break
    assert await closed_4008(hub) == "1"
    # Dropped once its close has waited a heartbeat: by the hub's own cut-off, or by the
    # heartbeat's unanswered ping, whichever fires first on a busy machine.
    async with asyncio.timeout(20):  # the hub offers no event for this: poll its metrics
        while await metric(hub, "hub_connections") != "1":  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert not silent.closed  # it never read a thing: not even that it was cut off
    await silent.close()


async def test_a_never_reading_peer_closed_by_the_heartbeat_is_dropped(
    make_client: Any,
) -> None:
    """A peer that never reads, closed by the heartbeat before any 4008 (its queue is
    long), still has megabytes queued for it: its socket is dropped at once, not held
    until it reads them, which it never will."""
    hub: HubClient = await make_client(
        send_queue_frames=100_000,
        heartbeat_interval=3.0,  # room to queue megabytes first, even on a busy machine
        rate_burst=100_000,
        rate_per_second=100_000.0,
    )
    s = await hub.session_with_b()
    a = await hub.connect(s["a"])
    host, port = hub.base.split("//")[1].rstrip("/").split(":")
    _, silent = await asyncio.open_connection(host, int(port))  # and never read from it
    silent.write(
        f"GET /ws?token={s['obs']} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    mine = silent.get_extra_info("sockname")

    def held() -> bool:
        handlers = hub.server.runner.server.connections  # type: ignore[union-attr]
        return any(h.transport and h.transport.get_extra_info("peername") == mine for h in handlers)

    try:
        async with asyncio.timeout(10):
            while await metric(hub, "hub_connections") != "2":  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        big = "x" * 60_000
        for _ in range(30):  # megabytes more than the socket buffers hold
            await asyncio.gather(*(a.say(big) for _ in range(10)))
        assert held()
        async with asyncio.timeout(20):  # the hub offers no event for this: poll
            while await metric(hub, "hub_connections") != "1" or held():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        assert await closed_4008(hub) == ""  # the heartbeat closed it
    finally:
        silent.close()


async def test_dead_peer_is_dropped_by_heartbeat(make_client: Any) -> None:
    """A peer that stops answering pings is dropped (1006: no close frame) and goes offline
    for the others."""
    hub: HubClient = await make_client(heartbeat_interval=0.3)
    s = await hub.session_with_b()
    a = await hub.connect(s["a"])
    ws = await hub.http.ws_connect(
        hub.base + "/ws", headers={"Authorization": f"Bearer {s['b']}"}, autoping=False
    )
    silent = Peer(ws)  # reads frames but never answers a ping
    await silent.next("resumed")
    await a.wait(
        lambda: [
            f
            for f in a.frames
            if f["type"] == "presence"
            and f["presence"]["participant_id"] == "bee"
            and f["presence"]["status"] == "online"
        ]
    )
    await a.wait(
        lambda: [
            f
            for f in a.frames
            if f["type"] == "presence"
            and f["presence"]["participant_id"] == "bee"
            and f["presence"]["status"] == "offline"
        ]
    )
    # aiohttp's heartbeat drops the connection without a close frame: the peer sees 1006,
    # never a code that would tell it to stop (4001, 4004) or that it was slow (4008).
    assert await silent.closed() == WSCloseCode.ABNORMAL_CLOSURE


async def test_shutdown_tells_clients_to_resume(make_client: Any) -> None:
    """Stopping the server closes every websocket with 4012 (reconnect and resume)."""
    hub: HubClient = await make_client()
    s = await hub.session_with_b()
    a, obs = await hub.connect(s["a"]), await hub.connect(s["obs"])
    await hub.server.close()
    assert await a.closed() == 4012
    assert await obs.closed() == 4012


async def test_binary_and_control_frames_do_not_break_the_socket(client: HubClient) -> None:
    """Binary frames are refused with an error; client pings are answered by the server."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    await a.ws.send_bytes(b"\xff\xfe")
    await a.ws.ping(b"hi")
    err = await a.next("error")
    assert err["code"] == "bad_request"
    assert a.ws.closed is False
    assert (await a.say("ok"))["type"] == "ack"


async def _raw_websocket(base: str, path: str) -> tuple[Any, Any]:
    """A websocket spoken by hand over a socket with a tiny receive buffer: a reader as
    slow as we like, that sees every frame the server wrote, in order."""
    import base64
    import os
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(base)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((url.hostname, url.port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**16)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer


async def test_nothing_follows_the_close_frame(make_client: Any) -> None:
    """A reader cut off with 4008 while it catches up on a long history gets the close
    frame last: no history page is written after it."""
    import struct

    hub: HubClient = await make_client(
        send_queue_frames=130, commit_batch_max=64, rate_per_second=10000.0, rate_burst=10000
    )
    s = await hub.session_with_b()
    a = await hub.connect(s["a"])
    body = "y" * 3000
    for _ in range(50):  # 2 500 messages, 7.5 MB of history
        await asyncio.gather(*(a.say(body) for _ in range(50)))
    reader, writer = await _raw_websocket(hub.base, f"/ws?token={s['obs']}&since=0")

    async with asyncio.timeout(20):  # the hub offers no event for this: poll its metrics
        while await metric(hub, "hub_connections") != "2":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        while await closed_4008(hub) != "1":  # live traffic overflows it
            await asyncio.gather(*(a.say("live") for _ in range(20)))
    after_close, closed = 0, False
    async with asyncio.timeout(30):
        while True:
            try:
                head = await reader.readexactly(2)
            except asyncio.IncompleteReadError:
                break
            size = head[1] & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await reader.readexactly(8))
            payload = await reader.readexactly(size)
            opcode = head[0] & 0x0F
            if opcode == 0x8 and not closed:
                closed = True
                assert struct.unpack("!H", payload[:2])[0] == 4008
                writer.write(b"\x88\x82\x00\x00\x00\x00" + payload[:2])  # close back, masked
            elif opcode == 0x1 and closed:
                after_close += 1
    writer.close()
    await writer.wait_closed()
    assert closed and after_close == 0
