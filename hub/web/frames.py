"""Writing a server's websocket text frames straight to the socket, several at once.

aiohttp's public `send_frame` costs one socket write (one syscall) per frame, and has no
way to write without awaiting. Measured on the relay (BENCHMARKS.md, "Writing frames"),
that made the server ~25% slower flat out and its p99 worse at the same pace. So this
module builds the frames itself and writes a batch in one `transport.write`, from the
`Flusher`'s callback when the peer keeps up.

It is the one place that relies on aiohttp's internals: the request's protocol's
`_drain_helper()` (flow control of the transport). pyproject.toml pins aiohttp to the
minor versions this was tested with; tests/web/test_frames.py checks it against a real
aiohttp client.
"""

from __future__ import annotations

import asyncio
import struct

from aiohttp import web

__all__ = ["WRITE_BUFFER_HIGH", "FrameWriter", "text_header"]

WRITE_BUFFER_HIGH = 256 * 1024  # bytes buffered for a peer before its writer waits

# Headers of unmasked, unfragmented RFC 6455 text frames (what a server sends).
_SHORT = [bytes((0x81, size)) for size in range(126)]
_MEDIUM = struct.Struct("!BBH").pack
_LONG = struct.Struct("!BBQ").pack


def text_header(length: int) -> bytes:
    """The header of a final, unmasked text frame with a payload of `length` bytes."""
    if length < 126:
        return _SHORT[length]
    if length < 65536:
        return _MEDIUM(0x81, 126, length)
    return _LONG(0x81, 127, length)


class FrameWriter:
    """Writes text frames to one prepared `WebSocketResponse`, in order, with as few
    socket writes as possible."""

    __slots__ = ("request", "transport", "ws")  # one per connection: kept small

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.request = request
        self.ws = ws
        self.transport = request.transport

    def write_now(self, frames: list[bytes]) -> bool:
        """Write text frames at once, unless the peer is behind (then False, and nothing
        is written: the caller sends them with `send`, which waits for the peer). Once
        the connection is closing, frames are dropped (True): the reader notices the end."""
        transport = self.transport
        if transport is None or transport.is_closing() or self.ws.closed:
            return True
        if transport.get_write_buffer_size() > WRITE_BUFFER_HIGH:
            return False
        parts: list[bytes] = []
        for payload in frames:
            parts += (text_header(len(payload)), payload)
        transport.write(b"".join(parts))
        return True

    async def send(self, frames: list[bytes]) -> None:
        """Write text frames, waiting whenever the peer has more than `WRITE_BUFFER_HIGH`
        bytes it has not read yet. Raises ConnectionResetError once the connection is
        closing (or our close frame is sent)."""
        parts: list[bytes] = []
        size = 0
        for payload in frames:
            length = len(payload)
            parts += (text_header(length), payload)
            size += length
            if size > WRITE_BUFFER_HIGH:
                await self._write(parts)
                parts, size = [], 0
        if parts:
            await self._write(parts)

    async def _write(self, parts: list[bytes]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or self.ws.closed:
            raise ConnectionResetError("the connection is closed")
        transport.write(b"".join(parts))
        if transport.get_write_buffer_size() > WRITE_BUFFER_HIGH:
            # aiohttp's protocol tracks pause_writing/resume_writing for this transport;
            # its drain helper is the way to wait until the peer has read enough. Its
            # future is shared with aiohttp's own writes (a close frame): shielded, so
            # that cancelling this writer does not cancel theirs.
            await asyncio.shield(self.request.protocol._drain_helper())
