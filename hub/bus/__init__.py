"""The bus: how a session's events reach every hub process, and where live presence is.

`Bus` is the small interface the rest of Hub uses. `MemoryBus` serves one process (the
embedded default); `hub.bus.redis.RedisBus` serves many. Payloads are opaque bytes: an
envelope made by `pack` (the message id, for ordering) around one encoded server frame,
so a frame is encoded once and the same bytes reach every subscriber.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Bus", "Envelope", "Listener", "MemoryBus", "pack", "unpack", "verify"]

Listener = Callable[[bytes], None]


class Envelope:
    """A decoded bus payload: `kind` (m: message, p: presence, e: other event,
    d: session deleted), the message id (0 unless kind is m) and the encoded frame."""

    __slots__ = ("frame", "kind", "message_id")

    def __init__(self, kind: str, message_id: int, frame: bytes) -> None:
        self.kind = kind
        self.message_id = message_id
        self.frame = frame


def pack(kind: str, message_id: int, frame: bytes) -> bytes:
    return b"%s%d\n%s" % (kind.encode(), message_id, frame)


def unpack(payload: bytes) -> Envelope:
    """Parse an envelope; raises ValueError on anything malformed."""
    head, sep, frame = payload.partition(b"\n")
    if not sep or len(head) < 2 or head[:1] not in (b"m", b"p", b"e", b"d"):
        raise ValueError("malformed bus payload")
    message_id = int(head[1:])
    if message_id < 0 or (head[:1] == b"m") != (message_id > 0):
        raise ValueError("malformed bus payload")
    return Envelope(head[:1].decode(), message_id, frame)


_KIND_OF_FRAME = {"message": "m", "presence": "p", "session": "e", "note": "e", "file": "e"}


def verify(payload: bytes, session_id: str) -> bool:
    """Whether a payload from outside this process is a well-formed event of this
    session, its envelope agreeing with its frame. Payloads failing this are dropped
    rather than relayed to clients."""
    from hub.protocol import MessageEvent, SessionEvent, decode_event

    try:
        envelope = unpack(payload)
        event = decode_event(envelope.frame)
    except ValueError:  # msgspec's errors are ValueErrors too
        return False
    tag = type(event).__struct_config__.tag
    if envelope.kind == "d":
        return isinstance(event, SessionEvent) and event.deleted and event.session.id == session_id
    if _KIND_OF_FRAME.get(str(tag)) != envelope.kind:
        return False
    if isinstance(event, MessageEvent):
        return event.message.id == envelope.message_id and event.message.session_id == session_id
    return True


class Bus(Protocol):
    """Publish/subscribe per session, plus live presence with a time-to-live."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, session_id: str, payload: bytes) -> None:
        """Deliver to every subscriber of the session, on every process (best effort:
        receivers repair gaps in messages from PostgreSQL)."""

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        """Publish several (session_id, payload) pairs in order, in one round trip."""

    async def subscribe(self, session_id: str, listener: Listener) -> None:
        """Call `listener(payload)` for each payload published to the session from now on
        (once this returns)."""

    async def unsubscribe(self, session_id: str, listener: Listener) -> None: ...

    async def set_presence(
        self, session_id: str, participant_id: str, data: bytes, ttl: float
    ) -> None:
        """Record live presence that expires unless refreshed within `ttl` seconds."""

    async def clear_presence(self, session_id: str, participant_id: str) -> None: ...

    async def live_presence(self, session_id: str) -> dict[str, bytes]:
        """Unexpired presence of a session, by participant."""

    def healthy(self) -> bool: ...


class MemoryBus:
    """The single-process bus: synchronous delivery, presence in a dict."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._presence: dict[str, dict[str, tuple[bytes, float]]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._listeners.clear()

    async def publish(self, session_id: str, payload: bytes) -> None:
        for listener in list(self._listeners.get(session_id, ())):
            listener(payload)

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        for session_id, payload in items:
            await self.publish(session_id, payload)

    async def subscribe(self, session_id: str, listener: Listener) -> None:
        self._listeners.setdefault(session_id, []).append(listener)

    async def unsubscribe(self, session_id: str, listener: Listener) -> None:
        listeners = self._listeners.get(session_id, [])
        if listener in listeners:
            listeners.remove(listener)
        if not listeners:
            self._listeners.pop(session_id, None)

    async def set_presence(
        self, session_id: str, participant_id: str, data: bytes, ttl: float
    ) -> None:
        self._presence.setdefault(session_id, {})[participant_id] = (data, time.monotonic() + ttl)

    async def clear_presence(self, session_id: str, participant_id: str) -> None:
        self._presence.get(session_id, {}).pop(participant_id, None)

    async def live_presence(self, session_id: str) -> dict[str, bytes]:
        now = time.monotonic()
        entries = self._presence.get(session_id, {})
        for pid in [p for p, (_, exp) in entries.items() if exp <= now]:
            del entries[pid]
        return {pid: data for pid, (data, _) in entries.items()}

    def healthy(self) -> bool:
        return True
