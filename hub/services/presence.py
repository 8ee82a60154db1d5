"""Presence: who is online, working, idle or gone. Live presence is kept on the bus with a
time-to-live (so a crashed process's participants lapse); the last known state is kept
in PostgreSQL, for when the bus is down."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import msgspec

from hub.bus import Bus
from hub.domain import Presence, PresenceStatus, Principal, require
from hub.errors import HubError
from hub.protocol import PresenceEvent, encode
from hub.services.events import Events
from hub.store import Store
from hub.store import presence as presence_store

__all__ = ["PresenceService"]

log = logging.getLogger("hub.presence")


class PresenceService:
    def __init__(self, store: Store, bus: Bus, events: Events, *, ttl: float) -> None:
        self._store = store
        self._bus = bus
        self._events = events
        self.ttl = ttl

    async def announce(
        self,
        principal: Principal,
        status: PresenceStatus = "online",
        activity: str | None = None,
    ) -> Presence:
        """Record and broadcast a participant's presence (on connect, or as asked)."""
        require(principal, "set_presence")
        presence = Presence(
            participant_id=principal.participant_id,
            role=principal.role,
            status=status,
            activity=activity,
            last_seen_at=datetime.now(UTC),
            display_name=principal.display_name,
        )
        await self._bus.set_presence(
            principal.session_id, principal.participant_id, encode(presence), self.ttl
        )
        async with self._store.connection() as conn:
            await presence_store.save_presence(conn, principal.session_id, presence)
        await self._events.publish(principal.session_id, PresenceEvent(presence=presence))
        return presence

    async def leave(self, principal: Principal) -> None:
        """A participant's last connection on this process ended: offline, unless it is
        still connected to another process."""
        presence = Presence(
            participant_id=principal.participant_id,
            role=principal.role,
            status="offline",
            last_seen_at=datetime.now(UTC),
            display_name=principal.display_name,
        )
        await self._bus.clear_presence(principal.session_id, principal.participant_id)
        try:
            elsewhere = principal.participant_id in await self._bus.live_presence(
                principal.session_id
            )
        except Exception:
            elsewhere = False
        if not elsewhere:
            await self.announce_offline(principal.session_id, presence)

    async def announce_offline(self, session_id: str, presence: Presence) -> None:
        """Broadcast first (it must reach people even with the database down), then
        persist as the last known state, best effort."""
        await self._events.publish(session_id, PresenceEvent(presence=presence))
        try:
            async with self._store.connection() as conn:
                await presence_store.save_presence(conn, session_id, presence)
        except HubError:
            log.warning("offline presence of %s not persisted", presence.participant_id)

    async def live(self, session_id: str, stored: list[Presence]) -> list[Presence]:
        """The stored presence of a session corrected by what the bus knows is live: a
        participant the bus does not hold is offline."""
        known = {p.participant_id: p for p in stored}
        try:
            live = await self._bus.live_presence(session_id)
        except Exception as exc:  # the bus is down: the last known state is all there is
            log.warning("live presence unavailable: %s", exc)
            return sorted(known.values(), key=lambda p: p.participant_id)
        for pid, data in live.items():
            known[pid] = msgspec.json.decode(data, type=Presence)
        for pid, p in known.items():
            if pid not in live and p.status != "offline":
                known[pid] = msgspec.structs.replace(p, status="offline", activity=None)
        return sorted(known.values(), key=lambda p: p.participant_id)

    async def list(self, principal: Principal) -> list[Presence]:
        async with self._store.connection() as conn:  # Redis is asked after, not holding it
            stored = await presence_store.list_presence(conn, principal.session_id)
        return await self.live(principal.session_id, stored)
