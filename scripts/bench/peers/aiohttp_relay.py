"""The raw relay ceiling: Hub's relay workload on aiohttp, with no logic at all.

It speaks just enough of Hub's wire shape for the load generator's relay: a session is a
room and every token of it is the room's name; each text frame a member sends goes,
wrapped as a `message` frame but never parsed, to every member of the room, the sender
included, and the sender gets an `ack`. Nothing is validated, stored, numbered or
ordered, and frames go out one `send_str` at a time, as a plain aiohttp server would.
Usage: python aiohttp_relay.py PORT"""

import itertools
import sys

from aiohttp import web

rooms: dict[str, set[web.WebSocketResponse]] = {}
names = itertools.count(1)


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
    room.add(sock)
    try:
        async for msg in sock:
            frame = '{"type":"message","message":' + msg.data + "}"
            for member in tuple(room):
                await member.send_str(frame)
            await sock.send_str('{"type":"ack"}')
    finally:
        room.discard(sock)
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
