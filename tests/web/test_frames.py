"""The hand-written frame writer: headers by the RFC, and bursts through a real aiohttp
client arrive whole and in order, with the writer waiting for a peer that is behind."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import ClientSession, WSMsgType, web
from aiohttp.test_utils import TestServer

from hub.web.frames import WRITE_BUFFER_HIGH, FrameWriter, text_header

Script = Callable[[FrameWriter], Awaitable[object]]
RESULT: web.AppKey[asyncio.Future[object]] = web.AppKey("result")


def parse_header(data: bytes) -> tuple[bool, int, int, bool, int, int]:
    """(fin, rsv bits, opcode, masked, payload length, header length), per RFC 6455 5.2."""
    first, second = data[0], data[1]
    length, offset = second & 0x7F, 2
    if length == 126:
        (length,) = struct.unpack_from("!H", data, 2)
        offset = 4
    elif length == 127:
        (length,) = struct.unpack_from("!Q", data, 2)
        offset = 10
    return bool(first & 0x80), first & 0x70, first & 0x0F, bool(second & 0x80), length, offset


def payload(index: int, size: int) -> bytes:
    return (f"{index:07d}:" + "x" * size)[:size].encode()


@pytest.mark.parametrize(
    ("length", "header_length"),
    [(0, 2), (1, 2), (125, 2), (126, 4), (127, 4), (65535, 4), (65536, 10), (1 << 20, 10)],
)
def test_header_encodes_the_length_in_the_shortest_form(length: int, header_length: int) -> None:
    """A text header is final, unmasked, opcode 1, and carries the length in 7, 16 or 64 bits."""
    header = text_header(length)
    assert len(header) == header_length
    assert parse_header(header + b"x" * length) == (True, 0, 1, False, length, header_length)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], Awaitable[TestServer]]]:
    """Start a server whose websocket runs a script on a `FrameWriter`, then waits for the
    client to close; the script's result is kept in `server.app[RESULT]`."""
    servers: list[TestServer] = []

    async def start(script: Script) -> TestServer:
        async def handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(compress=False)
            await ws.prepare(request)
            request.app[RESULT].set_result(await script(FrameWriter(request, ws)))
            async for _ in ws:
                pass
            return ws

        app = web.Application()
        app[RESULT] = asyncio.get_running_loop().create_future()
        app.router.add_get("/ws", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def receive_all(server: TestServer, count: int) -> list[bytes]:
    received: list[bytes] = []
    async with (
        ClientSession() as session,
        session.ws_connect(server.make_url("/ws"), max_msg_size=0) as ws,
    ):
        for _ in range(count):
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert msg.type == WSMsgType.TEXT, msg
            received.append(msg.data.encode())
    return received


async def test_a_burst_arrives_intact_and_in_order(
    serve: Callable[[Script], Awaitable[TestServer]],
) -> None:
    """Frames of every header form, written now and then sent, reach an aiohttp client whole."""
    sizes = [0, 1, 125, 126, 127, 65535, 65536, 200_000, 40]
    frames = [payload(i, sizes[i % len(sizes)]) for i in range(300)]

    async def script(writer: FrameWriter) -> object:
        assert writer.write_now(frames[:20])
        await writer.send(frames[20:])
        return None

    server = await serve(script)
    assert await receive_all(server, len(frames)) == frames


async def test_write_now_declines_a_peer_that_is_behind_and_send_waits_for_it(
    serve: Callable[[Script], Awaitable[TestServer]],
) -> None:
    """Once more than the high mark is buffered, write_now writes nothing; send then
    waits until the peer has read enough, and everything arrives in order."""
    frames = [payload(i, 32 * 1024) for i in range(1000)]

    async def script(writer: FrameWriter) -> object:
        assert writer.transport is not None
        written = 0
        while written < len(frames) and writer.write_now(frames[written : written + 1]):
            written += 1
        declined_at = writer.transport.get_write_buffer_size()
        await writer.send(frames[written:])
        return written, declined_at

    server = await serve(script)
    assert await receive_all(server, len(frames)) == frames
    written, declined_at = server.app[RESULT].result()
    assert written < len(frames)
    assert declined_at > WRITE_BUFFER_HIGH


async def test_a_closed_connection_takes_no_more_frames(
    serve: Callable[[Script], Awaitable[TestServer]],
) -> None:
    """After our close frame, write_now drops frames and send raises ConnectionResetError."""

    async def script(writer: FrameWriter) -> object:
        await writer.ws.close(code=1000)
        assert writer.write_now([b"dropped"])
        with pytest.raises(ConnectionResetError):
            await writer.send([b"refused"])
        return None

    server = await serve(script)
    async with (
        ClientSession() as session,
        session.ws_connect(server.make_url("/ws")) as ws,
    ):
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert msg.type == WSMsgType.CLOSE
    await asyncio.wait_for(server.app[RESULT], 10)
