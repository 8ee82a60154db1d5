"""python-socketio room relay with AsyncRedisManager under aiohttp: join a room, send to
it (acked). No persistence: the peer Hub is compared with.
Usage: python socketio_py.py PORT REDIS_URL"""

import sys

import socketio
from aiohttp import web

sio = socketio.AsyncServer(
    async_mode="aiohttp",
    client_manager=socketio.AsyncRedisManager(sys.argv[2]),
    transports=["websocket"],
)


@sio.event
async def join(sid, room):
    await sio.enter_room(sid, room)
    return "ok"


@sio.event
async def send(sid, room, data):
    await sio.emit("message", data, room=room)
    return 1


app = web.Application()
sio.attach(app)


def ready(*_):
    print("peer ready", flush=True)


try:
    import uvloop

    uvloop.install()
except ImportError:
    pass
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=ready)
