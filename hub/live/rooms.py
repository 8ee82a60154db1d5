"""The rooms of this process: one per session with connections here, created on first
connection and dropped when empty."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hub.bus import Bus
from hub.live.outbox import Flusher, Outbox
from hub.live.room import FetchAfter, Observer, Room
from hub.metrics import Metrics

__all__ = ["Rooms"]


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
        observe: Observer | None = None,
        on_closed: Callable[[str], None] | None = None,
    ) -> None:
        """`observe(session_id, frame)` is told each event a room here fans out other
        than messages, presence and deletion (published here or relayed);
        `on_closed(session_id)`, that the session's room here went (its last connection
        to this process ended)."""
        self._bus = bus
        self._observe = observe
        self._on_closed = on_closed
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
                    self._observe,
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
                if self._on_closed is not None:
                    self._on_closed(room.session_id)
            if self._metrics is not None:
                self._metrics.left(outbox.principal.role, len(self._rooms))
        return last
