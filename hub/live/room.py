"""One live session on this process: its connections and its ordered event stream.

A `Room` subscribes to its session on the bus and turns what arrives into one ordered
stream: messages in id order with no gap and no duplicate (out-of-order arrivals are
held, and a gap that does not close by itself is filled from PostgreSQL; while the bus
is unhealthy nothing more will come through it, so a gap is filled at once).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

import msgspec

from hub.bus import Envelope, revoked_ids, unpack
from hub.domain import Message, Presence
from hub.live.outbox import Outbox
from hub.metrics import Metrics
from hub.protocol import (
    CLOSE_AUTH_FAILED,
    CLOSE_SESSION_DELETED,
    MessageEvent,
    PresenceEvent,
    encode,
)
from hub.tasks import cancel_and_wait

__all__ = ["GAP_WAIT", "FetchAfter", "Observer", "Room"]

log = logging.getLogger("hub.rooms")

FetchAfter = Callable[[str, int, int], Awaitable[list[Message]]]
Observer = Callable[[str, bytes], None]
"""Told (session id, encoded frame) of each event a room fans out other than a message
and presence; must not raise."""
_presence_decoder = msgspec.json.Decoder(PresenceEvent)
GAP_WAIT = 0.15  # seconds a gap may stay open before it is filled from PostgreSQL


class Room:
    """One session's live connections on this process and its ordered event stream."""

    def __init__(
        self,
        session_id: str,
        fetch_after: FetchAfter,
        page_size: int,
        bus_healthy: Callable[[], bool] = lambda: True,
        metrics: Metrics | None = None,
        observe: Observer | None = None,
    ) -> None:
        self.session_id = session_id
        self._metrics = metrics
        self._observe = observe
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
        if envelope.kind == "r":
            self._revoke(envelope.frame)
            return
        if self.last_id is None:
            self._early.append(envelope)
            return
        self._accept(envelope)

    def _revoke(self, frame: bytes) -> None:
        """Close the connections of participants whose tokens were revoked."""
        try:
            gone = revoked_ids(frame)
        except ValueError:
            log.warning("dropped malformed revocation for %s", self.session_id)
            return
        for outbox in list(self.outboxes):
            if outbox.principal.participant_id in gone:
                outbox.finish(CLOSE_AUTH_FAILED, "access revoked")

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
        if envelope.kind == "e":
            if self._observe is not None:
                self._observe(self.session_id, envelope.frame)
        elif envelope.kind == "p":
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
                self._gap_task = asyncio.create_task(  # shared: no one request's log ids
                    self._fill_gap(), name="hub-gap-fill", context=contextvars.Context()
                )
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
            self._sync_task = asyncio.create_task(
                self._read_ahead(), name="hub-room-resync", context=contextvars.Context()
            )

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
        await cancel_and_wait((self._gap_task, self._sync_task))
