"""A lean websocket client for the load generator (RFC 6455, text frames only).

The load generator shares the machine with the server under test, so every cycle it
spends is taken from what it measures. aiohttp's client wakes a coroutine per frame;
this one parses all the frames a read brought in one go and hands them over as a list,
so a burst of deliveries costs one wake-up. It answers pings, and ends at a close frame
or when the connection drops. The same client drives Hub and the Socket.IO peers.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import struct
from collections import deque
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

__all__ = ["LeanWS"]

_MEDIUM = struct.Struct("!H")
_LONG = struct.Struct("!Q")


class LeanWS(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batches: deque[list[bytes]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._fragments: list[bytes] = []
        self.closed = False

    @classmethod
    async def connect(cls, url: str) -> LeanWS:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        path = parts.path + ("?" + parts.query if parts.query else "")
        _, ws = await asyncio.get_running_loop().create_connection(cls, host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        assert ws.transport is not None
        ws.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await asyncio.wait_for(ws._upgraded, 30)
        return ws

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._upgraded.done():
            self._upgraded.set_exception(ConnectionError("closed during the handshake"))
        self._wake()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            del buffer[: end + 4]
            if b" 101 " not in status:
                self._upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self._upgraded.set_result(None)
        frames: list[bytes] = []
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first, length = buffer[pos], buffer[pos + 1] & 0x7F
            header = 2
            if length == 126:
                if size - pos < 4:
                    break
                (length,) = _MEDIUM.unpack_from(buffer, pos + 2)
                header = 4
            elif length == 127:
                if size - pos < 10:
                    break
                (length,) = _LONG.unpack_from(buffer, pos + 2)
                header = 10
            end = pos + header + length
            if end > size:
                break
            payload = bytes(buffer[pos + header : end])
            pos = end
            opcode = first & 0x0F
            if opcode in (0x1, 0x2, 0x0):  # text, binary, continuation
                if first & 0x80:
                    if self._fragments:
                        payload = b"".join(self._fragments) + payload
                        self._fragments = []
                    frames.append(payload)
                else:
                    self._fragments.append(payload)
            elif opcode == 0x9:
                self._write(0xA, payload)
            elif opcode == 0x8:
                self._write(0x8, payload[:2])
                self.closed = True
                if self.transport is not None:
                    self.transport.close()
        del buffer[:pos]
        if frames:
            self._batches.append(frames)
            self._wake()

    # -- use -------------------------------------------------------------------------------

    def send(self, payload: bytes) -> None:
        """Send one text frame (masked, as a client must)."""
        self._write(0x1, payload)

    async def batches(self) -> AsyncIterator[list[bytes]]:
        """The frames received, a list per read, until the connection ends."""
        while True:
            while self._batches:
                yield self._batches.popleft()
            if self.closed:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    async def receive(self) -> bytes:
        """The next frame (for handshakes; loads read `batches`)."""
        async for batch in self.batches():
            first = batch.pop(0)
            if batch:
                self._batches.appendleft(batch)
            return first
        raise ConnectionError("the connection ended")

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self._write(0x8, _MEDIUM.pack(1000))
            self.transport.close()
        self.closed = True

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        length = len(payload)
        if length < 126:
            header = bytes((0x80 | opcode, 0x80 | length))
        elif length < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + _MEDIUM.pack(length)
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + _LONG.pack(length)
        key = random.getrandbits(32).to_bytes(4, "little")
        keys = (key * (length // 4 + 1))[:length]
        masked = (int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")).to_bytes(
            length, "little"
        )
        self.transport.write(header + key + masked)
