"""The live sessions of this process: who is connected, and in what order they hear.

A `Room` subscribes to its session on the bus and turns what arrives into one ordered
stream: messages in id order with no gap and no duplicate (out-of-order arrivals are
held, and a gap that does not close by itself is filled from PostgreSQL; while the bus
is unhealthy nothing more will come through it, so a gap is filled at once). Each
connection has an `Outbox`: a bounded queue drained by one writer task. A connection
that falls too far behind is closed with a code telling it to resume.

Nothing here knows about aiohttp: an outbox is given a `send` and a `close` coroutine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import msgspec

from hub.bus import Bus, Envelope, unpack
from hub.domain import Message, Presence, Principal
from hub.metrics import Metrics
from hub.protocol import (
    CLOSE_SESSION_DELETED,
    CLOSE_TOO_SLOW,
    MessageEvent,
    PresenceEvent,
    encode,
)

__all__ = ["Flusher", "Outbox", "Room", "Rooms"]

log = logging.getLogger("hub.rooms")

FetchAfter = Callable[[str, int, int], Awaitable[list[Message]]]
_presence_decoder = msgspec.json.Decoder(PresenceEvent)
GAP_WAIT = 0.15  # seconds a gap may stay open before it is filled from PostgreSQL


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


class Room:
    """One session's live connections on this process and its ordered event stream."""

    def __init__(
        self,
        session_id: str,
        fetch_after: FetchAfter,
        page_size: int,
        bus_healthy: Callable[[], bool] = lambda: True,
        metrics: Metrics | None = None,
    ) -> None:
        self.session_id = session_id
        self._metrics = metrics
        self._gap_opened: float | None = None
        self.outboxes: set[Outbox] = set()
        self.participants: Counter[str] = Counter()
        self.last_id: int | None = None
        """Id of the last message fanned out; None until the room knows where it starts."""
        self._fetch_after = fetch_after
        self._page = page_size
        """Most messages read from PostgreSQL at once: no more than one commit's burst."""
        self._bus_healthy = bus_healthy
        self._held: dict[int, bytes] = {}
        self._early: list[Envelope] = []
        self._gap_task: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self.deleted = False
        self.presence: dict[str, Presence] = {}
        """Latest presence of each participant seen in this session's events."""

    # -- stream ------------------------------------------------------------------------

    def on_payload(self, payload: bytes) -> None:
        """Bus listener: never raises, a malformed payload is logged and dropped."""
        try:
            envelope = unpack(payload)
        except ValueError:
            log.warning("dropped malformed bus payload for %s: %r", self.session_id, payload[:80])
            return
        if self.last_id is None:
            self._early.append(envelope)
            return
        self._accept(envelope)

    def start_at(self, last_id: int) -> None:
        """The room's stream begins after `last_id`; replay what arrived before."""
        self.last_id = last_id
        early, self._early = self._early, []
        for envelope in early:
            self._accept(envelope)

    def _accept(self, envelope: Envelope) -> None:
        assert self.last_id is not None
        if envelope.kind == "m":
            self._accept_message(envelope.message_id, envelope.frame)
            return
        self._fan_out(0, envelope.frame)
        if envelope.kind == "p":
            try:
                presence = _presence_decoder.decode(envelope.frame).presence
            except msgspec.ValidationError:
                log.warning("dropped malformed presence event for %s", self.session_id)
                return
            self.presence[presence.participant_id] = presence
        elif envelope.kind == "d":
            self.deleted = True
            for outbox in list(self.outboxes):
                outbox.finish(CLOSE_SESSION_DELETED, "session deleted")

    def _accept_message(self, message_id: int, frame: bytes) -> None:
        assert self.last_id is not None
        if message_id <= self.last_id:
            return
        if message_id > self.last_id + 1:
            self._held[message_id] = frame
            if self._gap_opened is None:
                self._gap_opened = asyncio.get_running_loop().time()
            if self._gap_task is None or self._gap_task.done():
                self._gap_task = asyncio.create_task(self._fill_gap(), name="hub-gap-fill")
            return
        self._fan_out(message_id, frame)
        self.last_id = message_id
        while self.last_id + 1 in self._held:
            self.last_id += 1
            self._fan_out(self.last_id, self._held.pop(self.last_id))
        if self._gap_opened is not None and not self._held:
            if self._metrics is not None:
                self._metrics.gap_closed(asyncio.get_running_loop().time() - self._gap_opened)
            self._gap_opened = None

    def _fan_out(self, message_id: int, frame: bytes) -> None:
        for outbox in list(self.outboxes):
            outbox.offer(message_id, frame)

    async def _fill_gap(self) -> None:
        """Wait briefly for late arrivals, then read the missing messages from PostgreSQL.
        With the bus unhealthy, read at once and a whole page: the missing messages
        were published elsewhere and will not arrive, and more may follow them."""
        delay = GAP_WAIT
        while self._held and self.last_id is not None:
            healthy = self._bus_healthy()
            if healthy or delay > GAP_WAIT:
                await asyncio.sleep(delay)
            if not self._held:
                return
            upto = min(self._held)
            limit = min(upto - self.last_id - 1, self._page) if healthy else self._page
            try:
                missing = await self._fetch_after(self.session_id, self.last_id, limit)
            except Exception as exc:
                log.warning("gap fill for %s failed (%s); retrying", self.session_id, exc)
                delay = min(delay * 2, 5.0)
                continue
            for message in missing:
                self._accept_message(message.id, encode(MessageEvent(message=message)))
            delay = GAP_WAIT if missing else GAP_WAIT * 2  # nothing yet: don't spin

    def resync(self) -> None:
        """Read whatever PostgreSQL has past `last_id` (after the bus may have lost
        messages, e.g. across a Redis reconnect)."""
        if self.last_id is not None and (self._sync_task is None or self._sync_task.done()):
            self._sync_task = asyncio.create_task(self._read_ahead(), name="hub-room-resync")

    async def _read_ahead(self) -> None:
        delay = GAP_WAIT
        while self.last_id is not None:
            try:
                page = await self._fetch_after(self.session_id, self.last_id, self._page)
            except Exception as exc:
                log.warning("resync of %s failed (%s); retrying", self.session_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            for message in page:
                self._accept_message(message.id, encode(MessageEvent(message=message)))
            if len(page) < self._page:
                return

    # -- membership --------------------------------------------------------------------

    def add(self, outbox: Outbox) -> bool:
        """Add a connection; True if it is its participant's first here."""
        self.outboxes.add(outbox)
        self.participants[outbox.principal.participant_id] += 1
        return self.participants[outbox.principal.participant_id] == 1

    def remove(self, outbox: Outbox) -> bool:
        """Remove a connection; True if it was its participant's last here."""
        if outbox not in self.outboxes:
            return False
        self.outboxes.discard(outbox)
        pid = outbox.principal.participant_id
        self.participants[pid] -= 1
        if self.participants[pid] <= 0:
            del self.participants[pid]
            return True
        return False

    async def close(self) -> None:
        for task in (self._gap_task, self._sync_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


class Rooms:
    """The rooms of this process, created on first connection and dropped when empty."""

    def __init__(
        self,
        bus: Bus,
        fetch_after: FetchAfter,
        last_message_id: Callable[[str], Awaitable[int]],
        *,
        page_size: int,
        metrics: Metrics | None = None,
    ) -> None:
        self._bus = bus
        self._metrics = metrics
        self._fetch_after = fetch_after
        self._page_size = page_size
        self._last_message_id = last_message_id
        self._rooms: dict[str, Room] = {}
        self._lock = asyncio.Lock()  # guards room creation and removal
        self.flusher = Flusher()
        """Shared by the outboxes of this process's connections."""

    def all(self) -> list[Room]:
        return list(self._rooms.values())

    def resync_all(self) -> None:
        for room in self._rooms.values():
            room.resync()

    async def enter(self, session_id: str, outbox: Outbox) -> tuple[Room, bool]:
        """Put a connection in its session's room (subscribing the room first, then
        reading where the stream stands, so nothing falls between). Returns the room and
        whether this is the participant's first connection here."""
        async with self._lock:
            room = self._rooms.get(session_id)
            if room is None:
                room = Room(
                    session_id,
                    self._fetch_after,
                    self._page_size,
                    self._bus.healthy,
                    self._metrics,
                )
                await self._bus.subscribe(session_id, room.on_payload)
                try:
                    room.start_at(await self._last_message_id(session_id))
                except BaseException:
                    await self._bus.unsubscribe(session_id, room.on_payload)
                    raise
                self._rooms[session_id] = room
            first = room.add(outbox)
            if self._metrics is not None:
                self._metrics.entered(outbox.principal.role, len(self._rooms))
            return room, first

    async def leave(self, room: Room, outbox: Outbox) -> bool:
        """Take a connection out; the room goes when empty. True if it was the
        participant's last connection here."""
        last = room.remove(outbox)
        async with self._lock:
            if not room.outboxes and self._rooms.get(room.session_id) is room:
                del self._rooms[room.session_id]
                await self._bus.unsubscribe(room.session_id, room.on_payload)
                await room.close()
            if self._metrics is not None:
                self._metrics.left(outbox.principal.role, len(self._rooms))
        return last
