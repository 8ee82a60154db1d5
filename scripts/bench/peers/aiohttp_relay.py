"""The raw relay ceiling: Hub's relay workload on aiohttp, with no logic at all.

It speaks just enough of Hub's wire shape for the load generator's relay: a session is a
room and every token of it is the room's name; each text frame a member sends goes,
wrapped as a `message` frame but never parsed, to every member of the room, the sender
included, and the sender gets an `ack`. Nothing is validated, stored, numbered or
ordered, and nothing waits for a slow reader. Frames are written the way Hub writes
them (each encoded once, and all of a connection's frames in one write per turn of the
event loop), so that the ceiling is aiohttp's and this machine's, not a plain
`send_str` per frame's.
Usage: python aiohttp_relay.py PORT"""

import asyncio
import itertools
import struct
import sys

from aiohttp import web

rooms: dict[str, set[asyncio.Transport]] = {}
names = itertools.count(1)
pending: dict[asyncio.Transport, list[bytes]] = {}


def frame(payload: bytes) -> bytes:
    """An unmasked RFC 6455 text frame."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


ACK = frame(b'{"type":"ack"}')


def flush() -> None:
    for transport, parts in pending.items():
        if not transport.is_closing():
            transport.write(b"".join(parts))
    pending.clear()


def queue(transport: asyncio.Transport, data: bytes) -> None:
    if not pending:
        asyncio.get_running_loop().call_soon(flush)
    pending.setdefault(transport, []).append(data)


async def create(request: web.Request) -> web.Response:
    room = str(next(names))
    rooms[room] = set()
    return web.json_response(
        {"session": {"id": room}, "invite_code": room, "agent_token": room, "observer_token": room}
    )


async def join(request: web.Request) -> web.Response:
    return web.json_response({"token": (await request.json())["invite_code"]})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(text="hub_messages_committed_total 0\nhub_commit_batches_total 0\n")


async def ws(request: web.Request) -> web.WebSocketResponse:
    room = rooms[request.query["token"]]
    sock = web.WebSocketResponse(max_msg_size=0)
    await sock.prepare(request)
    await sock.send_str('{"type":"hello"}')
    await sock.send_str('{"type":"resumed"}')
    me = request.transport
    assert me is not None
    room.add(me)  # type: ignore[arg-type]
    try:
        async for msg in sock:
            out = frame(b'{"type":"message","message":' + msg.data.encode() + b"}")
            for member in room:
                queue(member, out)
            queue(me, ACK)  # type: ignore[arg-type]
    finally:
        room.discard(me)  # type: ignore[arg-type]
    return sock


app = web.Application()
app.router.add_post("/api/sessions", create)
app.router.add_post("/api/join", join)
app.router.add_get("/metrics", metrics)
app.router.add_get("/ws", ws)
try:
    import uvloop

    uvloop.install()
except ImportError:
    pass
web.run_app(
    app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *_: print("peer ready", flush=True)
)
