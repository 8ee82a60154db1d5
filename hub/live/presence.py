"""Presence upkeep: what keeps live presence, and the rooms' streams, true over time.

Every heartbeat interval: refresh the presence TTL of participants connected here, mark
offline those whose TTL ran out elsewhere (a crashed process), and let rooms that lag
PostgreSQL catch up (a message the bus lost). While the bus is unhealthy, messages
committed on other processes reach this one only from PostgreSQL: the rooms with
connections here read them every `BUS_DOWN_POLL` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import msgspec

from hub.bus import Bus
from hub.domain import Presence, Principal
from hub.live.room import Room
from hub.live.rooms import Rooms
from hub.protocol import encode
from hub.tasks import cancel_and_wait

__all__ = ["BUS_DOWN_POLL", "PresenceUpkeep"]

log = logging.getLogger("hub.presence")

BUS_DOWN_POLL = 0.5
"""Seconds between reads of PostgreSQL for new messages while the bus is unhealthy."""

Heads = Callable[[list[str]], Awaitable[dict[str, int]]]
AnnounceOnline = Callable[[Principal], Awaitable[object]]
AnnounceOffline = Callable[[str, Presence], Awaitable[None]]


class PresenceUpkeep:
    """The two loops of the live side, owned: `start` runs them, `close` ends them."""

    def __init__(
        self,
        rooms: Rooms,
        bus: Bus,
        *,
        interval: float,
        ttl: float,
        heads: Heads,
        announce_online: AnnounceOnline,
        announce_offline: AnnounceOffline,
    ) -> None:
        self._rooms = rooms
        self._bus = bus
        self._interval = interval
        self._ttl = ttl
        self._heads = heads
        self._announce_online = announce_online
        self._announce_offline = announce_offline
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._keep(), name="hub-presence-upkeep"),
            asyncio.create_task(self._poll(), name="hub-bus-down-poll"),
        ]

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.keep_once()
            except Exception:
                log.exception("presence/resync upkeep failed; retrying next interval")

    async def keep_once(self) -> None:
        """One round of upkeep; each room and step on its own, so one failure skips no
        other."""
        try:
            await self._bus.refresh_connections(self._ttl)
        except Exception as exc:
            log.warning("connection slot refresh failed: %s", exc)
        rooms = self._rooms.all()
        if not rooms:
            return
        for room in rooms:
            try:
                await self._refresh(room)
            except Exception as exc:
                log.warning("presence refresh for %s failed: %s", room.session_id, exc)
        if self._bus.healthy():
            for room in rooms:
                try:
                    await self._expire(room)
                except Exception as exc:
                    log.warning("presence expiry for %s failed: %s", room.session_id, exc)
        await self._catch_up(rooms)

    async def _poll(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(BUS_DOWN_POLL)
            rooms = self._rooms.all()
            if self._bus.healthy() or not rooms:
                continue
            try:
                await self._catch_up(rooms)
                failing = False
            except Exception as exc:
                if not failing:  # once per failing spell, not twice a second
                    log.warning("reading new messages while the bus is down failed: %s", exc)
                failing = True

    async def _catch_up(self, rooms: list[Room]) -> None:
        """Let the rooms that lag PostgreSQL read what they are missing."""
        heads = await self._heads([room.session_id for room in rooms])
        for room in rooms:
            if room.last_id is not None and heads.get(room.session_id, 0) > room.last_id:
                room.resync()

    async def _refresh(self, room: Room) -> None:
        """Keep the TTL of participants connected here fresh."""
        for pid in list(room.participants):
            current = room.presence.get(pid)
            if current is None or current.status == "offline":
                # connected here but announced offline (a race with another process's
                # last disconnect): announce it online again
                principal = next(
                    (o.principal for o in room.outboxes if o.principal.participant_id == pid),
                    None,
                )
                if principal is not None:
                    await self._announce_online(principal)
                continue
            await self._bus.set_presence(room.session_id, pid, encode(current), self._ttl)

    async def _expire(self, room: Room) -> None:
        """Announce offline those whose presence expired elsewhere (a crashed process)."""
        live = await self._bus.live_presence(room.session_id)
        for pid, seen in list(room.presence.items()):
            if seen.status != "offline" and pid not in live and pid not in room.participants:
                gone = msgspec.structs.replace(
                    seen, status="offline", activity=None, last_seen_at=datetime.now(UTC)
                )
                await self._announce_offline(room.session_id, gone)
