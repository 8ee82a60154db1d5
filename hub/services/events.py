"""The one way a use case tells the session what happened: `publish(session_id, event)`.

An event is encoded once into its bus envelope (the kind is derived from its type, in
`hub.bus`) and the same bytes reach every subscriber on every process. Publishing never
fails a use case whose change is committed: receivers catch up from PostgreSQL.
"""

from __future__ import annotations

import logging

from hub.bus import Bus, envelope, revocation
from hub.domain import Message
from hub.protocol import Event, MessageEvent

__all__ = ["Events"]

log = logging.getLogger("hub.events")


class Events:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def publish(self, session_id: str, event: Event) -> None:
        try:
            await self._bus.publish(session_id, envelope(event))
        except Exception:
            log.exception("publishing a %s event for %s failed", type(event).__name__, session_id)

    def tell_here(self, session_id: str, event: Event) -> None:
        """Deliver an event to this process's connections to the session only: for what
        every process finds out by itself and tells its own (so nobody hears it twice)."""
        try:
            self._bus.deliver_here(session_id, envelope(event))
        except Exception:
            log.exception("delivering a %s event for %s failed", type(event).__name__, session_id)

    async def revoke(self, revoked: list[tuple[str, str]]) -> None:
        """Close the live connections of revoked tokens: (session id, participant id)
        pairs. Best effort like any publish: the tokens themselves are refused from the
        moment their revocation commits."""
        by_session: dict[str, list[str]] = {}
        for session_id, participant_id in revoked:
            by_session.setdefault(session_id, []).append(participant_id)
        for session_id, ids in by_session.items():
            try:
                await self._bus.publish(session_id, revocation(ids))
            except Exception:
                log.exception("publishing a revocation for %s failed", session_id)

    async def publish_messages(self, messages: list[Message]) -> None:
        """Committed messages, as one bus write (the group commit's whole batch)."""
        await self._bus.publish_many(
            [(m.session_id, envelope(MessageEvent(message=m))) for m in messages]
        )
