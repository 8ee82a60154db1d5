"""What one connection has yet to receive, and how it gets there.

Each connection has an `Outbox`: a bounded queue, written out by the process's `Flusher`
once per turn of the event loop, or by the outbox's own writer task while the peer is
behind. A connection that falls too far behind is closed with a code telling it to
resume. Nothing here knows about aiohttp: an outbox is given a `send` and a `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from hub.domain import Principal
from hub.protocol import CLOSE_TOO_SLOW

__all__ = ["Flusher", "Outbox"]


class Flusher:
    """Writes every outbox that was given frames, once per turn of the event loop.

    So a commit fanned out to a thousand connections costs a thousand socket writes in
    one callback rather than a thousand writer tasks woken, and a burst to one
    connection (hundreds of messages and their acks) still goes out in one write."""

    def __init__(self) -> None:
        self._due: list[Outbox] = []

    def add(self, outbox: Outbox) -> None:
        if not self._due:
            asyncio.get_running_loop().call_soon(self._flush)
        self._due.append(outbox)

    def _flush(self) -> None:
        due, self._due = self._due, []
        for outbox in due:
            outbox.flush()


class Outbox:
    """What one connection has yet to receive, and how it gets there.

    Frames are written by the `Flusher` with `write_now`, all that is queued at once.
    When the peer is behind (`write_now` declines), a writer task takes over: it hands
    everything queued to `send` as one list and waits for the peer, until it catches up.
    The same task sends the close."""

    def __init__(
        self,
        principal: Principal,
        *,
        limit: int,
        send: Callable[[list[bytes]], Awaitable[None]],
        close: Callable[[int, str], Coroutine[Any, Any, None]],
        write_now: Callable[[list[bytes]], bool] | None = None,
        flusher: Flusher | None = None,
    ) -> None:
        self.principal = principal
        self.limit = limit
        self.cursor = 0
        """Id of the last message queued for this connection."""
        self.catching_up = True
        self._pending: list[tuple[int, bytes]] = []
        self._frames: list[bytes] = []
        self._then_close: tuple[int, str] | None = None
        self._wakeup = asyncio.Event()
        self._send = send
        self._close = close
        self._write_now = write_now
        self._flusher = flusher if write_now is not None else None
        self._flush_due = False
        self._busy = False
        """The writer task is sending: nothing else may write until it is done."""
        self._writer: asyncio.Task[None] | None = None
        self.closed_with: int | None = None

    def offer(self, message_id: int, frame: bytes) -> None:
        """Queue a frame (message_id 0 for non-message events); never blocks."""
        if self.closed_with is not None or self._then_close is not None:
            return
        if self.catching_up:
            self._pending.append((message_id, frame))
            if len(self._pending) > self.limit:
                self.abort(CLOSE_TOO_SLOW, "too slow: resume with since")
            return
        if message_id:
            if message_id <= self.cursor:
                return
            self.cursor = message_id
        if len(self._frames) >= self.limit:
            self.abort(CLOSE_TOO_SLOW, "too slow: resume with since")
            return
        self._frames.append(frame)
        if self._flusher is None or self._busy:
            self._wakeup.set()
        elif not self._flush_due:
            self._flush_due = True
            self._flusher.add(self)

    def flush(self) -> None:
        """Write what is queued now, or leave it to the writer task if the peer is behind
        (or the writer is busy, or a close is under way)."""
        self._flush_due = False
        if self._busy or not self._frames or self.closed_with is not None:
            return
        if self._then_close is None and self._write_now is not None:
            frames, self._frames = self._frames, []
            if self._write_now(frames):
                return
            self._frames = frames + self._frames
        self._wakeup.set()

    def go_live(self, cursor: int) -> None:
        """End the catch-up at `cursor`: queue what arrived meanwhile, then run live."""
        self.cursor = max(self.cursor, cursor)
        self.catching_up = False
        pending, self._pending = self._pending, []
        for message_id, frame in pending:
            self.offer(message_id, frame)

    def start(self) -> None:
        if self.closed_with is not None:  # aborted during the catch-up: keep the close task
            return
        self._writer = asyncio.create_task(self._write(), name="hub-outbox")

    def finish(self, code: int, reason: str) -> None:
        """Close after what is already queued has been sent."""
        if self.closed_with is not None or self._then_close is not None:
            return
        self._then_close = (code, reason)
        self._wakeup.set()

    def abort(self, code: int, reason: str) -> None:
        """Close now, dropping what is queued."""
        if self.closed_with is not None:
            return
        self.closed_with = code
        self._frames = []
        if self._writer is not None:
            self._writer.cancel()
        self._writer = asyncio.create_task(self._close(code, reason), name="hub-outbox-close")

    async def stop(self) -> None:
        """Wait for the writer (or the close it turned into) to end."""
        task = self._writer
        if task is None:
            return
        if not task.done() and self.closed_with is None:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def _write(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            self._busy = True
            try:
                while self._frames:
                    frames, self._frames = self._frames, []
                    await self._send(frames)
            except (ConnectionError, RuntimeError):
                return
            finally:
                self._busy = False
            if self._then_close is not None:
                self.closed_with = self._then_close[0]
                await self._close(*self._then_close)
                return
