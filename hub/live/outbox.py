"""What one connection has yet to receive, and how it gets there.

Each connection has an `Outbox`: a bounded queue, written out by the process's `Flusher`
once per turn of the event loop, or by the outbox's own writer task while the peer is
behind. A connection that falls too far behind is closed with a code telling it to
resume. Nothing here knows about aiohttp: an outbox is given a `send` and a `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal

from hub.domain import Principal
from hub.protocol import CLOSE_TOO_SLOW

__all__ = ["Flusher", "Outbox", "OutboxState"]


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


OutboxState = Literal["catching_up", "live", "closing", "closed"]
"""catching_up: what arrives is held until the history has been sent (`go_live`);
live: frames are queued and written; closing: what is queued is written, then the close
(`finish`); closed: nothing more is written (`abort`, or the close was sent)."""


class Outbox:
    """What one connection has yet to receive, and how it gets there.

    Frames are written by the `Flusher` with `write_now`, all that is queued at once.
    When the peer is behind (`write_now` declines), a writer task takes over: it hands
    everything queued to `send` as one list and waits for the peer, until it catches up.
    The same task sends the close.

    Its life is one `state`; besides it, two scheduling facts: a flush is due (the
    `Flusher` will call `flush`), and the writer task is busy sending (nothing else may
    write meanwhile)."""

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
        self.state: OutboxState = "catching_up"
        self._close_with: tuple[int, str] | None = None
        """The close to send, once closing or closed."""
        self._pending: list[tuple[int, bytes]] = []
        self._frames: list[bytes] = []
        self._wakeup = asyncio.Event()
        self._send = send
        self._close = close
        self._write_now = write_now
        self._flusher = flusher if write_now is not None else None
        self._flush_due = False
        self._busy = False
        self._writer: asyncio.Task[None] | None = None
        self._context = contextvars.copy_context()
        """Its connection's (the log ids), for its tasks: a close may be started by a
        fan-out that another request is running."""

    @property
    def closed_with(self) -> int | None:
        """The close code, once closed (None before)."""
        if self.state == "closed" and self._close_with is not None:
            return self._close_with[0]
        return None

    def offer(self, message_id: int, frame: bytes) -> None:
        """Queue a frame (message_id 0 for non-message events); never blocks."""
        if self.state == "catching_up":
            self._pending.append((message_id, frame))
            if len(self._pending) > self.limit:
                self.abort(CLOSE_TOO_SLOW, "too slow: resume with since")
            return
        if self.state != "live":
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
        if self._busy or not self._frames or self.state == "closed":
            return
        if self.state == "live" and self._write_now is not None:
            frames, self._frames = self._frames, []
            if self._write_now(frames):
                return
            self._frames = frames + self._frames
        self._wakeup.set()

    def go_live(self, cursor: int) -> None:
        """End the catch-up at `cursor`: queue what arrived meanwhile, then run live (if
        the outbox was told to close meanwhile, what arrived is dropped)."""
        self.cursor = max(self.cursor, cursor)
        pending, self._pending = self._pending, []
        if self.state != "catching_up":
            return
        self.state = "live"
        for message_id, frame in pending:
            self.offer(message_id, frame)

    def start(self) -> None:
        if self.state == "closed":  # aborted during the catch-up: keep the close task
            return
        self._writer = asyncio.create_task(self._write(), name="hub-outbox", context=self._context)

    def finish(self, code: int, reason: str) -> None:
        """Close after what is already queued has been sent."""
        if self.state in ("closing", "closed"):
            return
        self.state = "closing"
        self._close_with = (code, reason)
        self._wakeup.set()

    def abort(self, code: int, reason: str) -> None:
        """Close now, dropping what is queued."""
        if self.state == "closed":
            return
        self.state = "closed"
        self._close_with = (code, reason)
        self._frames = []
        if self._writer is not None:
            self._writer.cancel()
        self._writer = asyncio.create_task(
            self._close(code, reason), name="hub-outbox-close", context=self._context
        )

    async def stop(self) -> None:
        """Wait for the writer (or the close it turned into) to end."""
        task = self._writer
        if task is None:
            return
        if not task.done() and self.state != "closed":
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
            if self.state == "closing" and self._close_with is not None:
                self.state = "closed"
                await self._close(*self._close_with)
                return
