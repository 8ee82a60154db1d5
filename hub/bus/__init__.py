"""The bus: how a session's events reach every hub process, where live presence is, and
the counters every process shares (rate-limit buckets, connection slots).

`Bus` is the small interface the rest of Hub uses. `MemoryBus` serves one process (the
embedded default); `hub.bus.redis.RedisBus` serves many. Payloads are opaque bytes: an
envelope made by `pack` (the message id, for ordering) around one encoded server frame,
so a frame is encoded once and the same bytes reach every subscriber.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal, Protocol

import msgspec

from hub.protocol import (
    ApprovalEvent,
    ArtifactEvent,
    AttachmentEvent,
    Event,
    FileEvent,
    InterruptEvent,
    JobEvent,
    JobLogEvent,
    MessageEvent,
    NoteEvent,
    PipelineRunEvent,
    PresenceEvent,
    SessionEvent,
    StreamDeltaEvent,
    StreamEndedEvent,
    StreamStartedEvent,
    decode_event,
    encode,
)
from hub.ratelimit import Buckets

__all__ = [
    "Bus",
    "Envelope",
    "Listener",
    "MemoryBus",
    "OpenStream",
    "StreamState",
    "envelope",
    "kind_of",
    "pack",
    "revocation",
    "revoked_ids",
    "unpack",
    "verify",
]

Listener = Callable[[bytes], None]


class Envelope:
    """A decoded bus payload: `kind` (m: message, p: presence, e: other event,
    d: session deleted, r: tokens revoked), the message id (0 unless kind is m) and the
    encoded frame (for r, the participant ids whose connections close, never relayed)."""

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
    if not sep or len(head) < 2 or head[:1] not in (b"m", b"p", b"e", b"d", b"r"):
        raise ValueError("malformed bus payload")
    message_id = int(head[1:])
    if message_id < 0 or (head[:1] == b"m") != (message_id > 0):
        raise ValueError("malformed bus payload")
    return Envelope(head[:1].decode(), message_id, frame)


def kind_of(event: Event) -> tuple[str, int]:
    """An event's envelope kind and message id: the one place they are decided. A
    message orders the stream by its id; presence updates each room's view; a session's
    deletion closes its connections; everything else is relayed as it is."""
    if isinstance(event, MessageEvent):
        return "m", event.message.id
    if isinstance(event, PresenceEvent):
        return "p", 0
    if isinstance(event, SessionEvent) and event.deleted:
        return "d", 0
    return "e", 0


def envelope(event: Event) -> bytes:
    """The payload that carries `event` on the bus: encoded once, for every subscriber."""
    kind, message_id = kind_of(event)
    return pack(kind, message_id, encode(event))


_ids_decoder = msgspec.json.Decoder(list[str])


def revocation(participant_ids: list[str]) -> bytes:
    """The payload that closes these participants' connections to the session (their
    tokens were revoked): a control payload for rooms, never relayed to clients."""
    return pack("r", 0, msgspec.json.encode(participant_ids))


def revoked_ids(frame: bytes) -> set[str]:
    """The participant ids a revocation's frame names; raises ValueError if malformed."""
    return set(_ids_decoder.decode(frame))


def verify(payload: bytes, session_id: str) -> bool:
    """Whether a payload from outside this process is a well-formed event of this
    session, its envelope agreeing with its frame, or a well-formed revocation.
    Payloads failing this are dropped rather than relayed to clients."""
    try:
        parsed = unpack(payload)
        if parsed.kind == "r":
            return bool(revoked_ids(parsed.frame)) and parsed.message_id == 0
        event = decode_event(parsed.frame)
    except ValueError:  # msgspec's errors are ValueErrors too
        return False
    if kind_of(event) != (parsed.kind, parsed.message_id):
        return False
    if isinstance(event, MessageEvent):
        return event.message.session_id == session_id
    if isinstance(event, SessionEvent):
        return event.session.id == session_id
    if isinstance(event, NoteEvent):
        return event.note.session_id == session_id
    if isinstance(event, FileEvent):
        return event.file.session_id == session_id
    if isinstance(event, AttachmentEvent):
        return event.attachment.session_id == session_id
    if isinstance(event, ArtifactEvent):
        return event.artifact.session_id == session_id
    if isinstance(event, StreamStartedEvent):
        return event.stream.session_id == session_id
    if isinstance(event, JobEvent):
        return event.job.session_id == session_id
    if isinstance(event, PipelineRunEvent):
        return event.run.session_id == session_id
    if isinstance(event, StreamDeltaEvent | StreamEndedEvent | InterruptEvent | JobLogEvent):
        return event.session_id == session_id
    if isinstance(event, ApprovalEvent):
        return event.approval.session_id == session_id
    return True  # presence names no session: its channel is all there is


OpenStream = tuple[str, str, str]
"""(session id, stream id, author id): an open stream, as the bus records it."""

StreamState = Literal["open", "ended", "lapsed"]
"""How an open stream stands in the bus: still refreshed by the process holding it;
ended by that process (its `stream_ended` is published); or lapsed, neither refreshed
nor ended (the process holding it is gone)."""


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

    def deliver_here(self, session_id: str, payload: bytes) -> None:
        """Deliver to this process's subscribers of the session only (an event every
        process tells its own connections, so that none is told it twice)."""

    async def set_presence(
        self, session_id: str, participant_id: str, data: bytes, ttl: float
    ) -> None:
        """Record live presence that expires unless refreshed within `ttl` seconds."""

    async def clear_presence(self, session_id: str, participant_id: str) -> None: ...

    async def live_presence(self, session_id: str) -> dict[str, bytes]:
        """Unexpired presence of a session, by participant."""

    async def take(
        self, limit: str, subject: str, rate: float, burst: float, cost: float = 1.0
    ) -> float:
        """A token bucket shared by every process, one per (limit, subject): if a whole
        token is there, spend `cost` (0 only looks) and return 0.0; else the seconds
        until one is. A negative cost gives tokens back (up to `burst`) and returns 0.0,
        so a token taken before an outcome is known can be returned. Never raises:
        with the shared store down, limits hold per process."""

    async def claim_connection(
        self, session_id: str, participant_id: str, connection_id: str, limit: int, ttl: float
    ) -> bool:
        """Take one of a participant's `limit` connection slots (over every process), or
        False if all are taken. The slot lapses unless refreshed within `ttl` seconds
        (`refresh_connections`), so a crashed process does not hold slots forever."""

    async def release_connection(
        self, session_id: str, participant_id: str, connection_id: str
    ) -> None: ...

    async def refresh_connections(self, ttl: float) -> None:
        """Keep this process's connection slots for another `ttl` seconds."""

    def healthy(self) -> bool: ...

    # Open streams: what a participant joining mid-stream is sent (see hub.services.streams).

    async def open_stream(self, stream: OpenStream, info: bytes, limit: int, ttl: float) -> int:
        """Record an open stream (its encoded `StreamInfo`, and no text yet) that lapses
        unless refreshed within `ttl` seconds: 1 if recorded, -1 if the session has an
        open stream of that id, 0 if its author holds `limit` open streams already (over
        every process). Raises if the shared store cannot be reached."""

    async def append_stream(self, stream: OpenStream, text: str, ttl: float) -> None:
        """Add `text` to the stream's text so far, and keep it another `ttl` seconds."""

    async def refresh_streams(self, streams: list[OpenStream], ttl: float) -> None:
        """Keep these open streams (held by this process) another `ttl` seconds."""

    async def close_stream(self, stream: OpenStream, ttl: float) -> None:
        """Forget an open stream and its text, marking it ended for `ttl` seconds (see
        `stream_states`)."""

    async def stream_states(self, streams: list[OpenStream]) -> list[StreamState]:
        """How each of these open streams stands, in order, in one round trip (`ended`
        within the `ttl` of its `close_stream`, `lapsed` after). Raises if the shared
        store cannot be reached."""

    async def open_streams(self, session_id: str) -> list[tuple[bytes, str]]:
        """The session's open streams: (encoded info, text so far) each, oldest first.
        Raises if the shared store cannot be reached."""

    async def stream_info(self, session_id: str, stream_id: str) -> bytes | None:
        """The encoded info of an open stream, or None."""


class _MemoryStream:
    __slots__ = ("author_id", "expires", "info", "text")

    def __init__(self, author_id: str, info: bytes, expires: float) -> None:
        self.author_id = author_id
        self.info = info
        self.text = ""
        self.expires = expires


class MemoryBus:
    """The single-process bus: synchronous delivery, presence in a dict."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._presence: dict[str, dict[str, tuple[bytes, float]]] = {}
        self._buckets = Buckets()
        self._connections: dict[tuple[str, str], set[str]] = {}
        self._streams: dict[str, dict[str, _MemoryStream]] = {}
        self._ended: OrderedDict[tuple[str, str], float] = OrderedDict()
        """(session id, stream id) -> when its mark of having ended lapses."""

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

    def deliver_here(self, session_id: str, payload: bytes) -> None:
        for listener in list(self._listeners.get(session_id, ())):
            listener(payload)

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

    async def take(
        self, limit: str, subject: str, rate: float, burst: float, cost: float = 1.0
    ) -> float:
        return self._buckets.take(f"{limit}:{subject}", rate, burst, cost)

    async def claim_connection(
        self, session_id: str, participant_id: str, connection_id: str, limit: int, ttl: float
    ) -> bool:
        held = self._connections.setdefault((session_id, participant_id), set())
        if len(held) >= limit:
            return False
        held.add(connection_id)
        return True

    async def release_connection(
        self, session_id: str, participant_id: str, connection_id: str
    ) -> None:
        held = self._connections.get((session_id, participant_id))
        if held is not None:
            held.discard(connection_id)
            if not held:
                del self._connections[(session_id, participant_id)]

    async def refresh_connections(self, ttl: float) -> None:
        return None  # they live and die with this process

    def healthy(self) -> bool:
        return True

    def _live_streams(self, session_id: str) -> dict[str, _MemoryStream]:
        streams = self._streams.get(session_id, {})
        now = time.monotonic()
        for stream_id in [k for k, v in streams.items() if v.expires <= now]:
            del streams[stream_id]
        return streams

    async def open_stream(self, stream: OpenStream, info: bytes, limit: int, ttl: float) -> int:
        session_id, stream_id, author_id = stream
        streams = self._live_streams(session_id)
        if stream_id in streams:
            return -1
        if sum(1 for s in streams.values() if s.author_id == author_id) >= limit:
            return 0
        self._ended.pop((session_id, stream_id), None)
        self._streams.setdefault(session_id, {})[stream_id] = _MemoryStream(
            author_id, info, time.monotonic() + ttl
        )
        return 1

    async def append_stream(self, stream: OpenStream, text: str, ttl: float) -> None:
        found = self._streams.get(stream[0], {}).get(stream[1])
        if found is not None:
            found.text += text
            found.expires = time.monotonic() + ttl

    async def refresh_streams(self, streams: list[OpenStream], ttl: float) -> None:
        for session_id, stream_id, _ in streams:
            found = self._streams.get(session_id, {}).get(stream_id)
            if found is not None:
                found.expires = time.monotonic() + ttl

    async def close_stream(self, stream: OpenStream, ttl: float) -> None:
        streams = self._streams.get(stream[0])
        if streams is not None:
            streams.pop(stream[1], None)
            if not streams:
                del self._streams[stream[0]]
        now = time.monotonic()
        self._ended.pop((stream[0], stream[1]), None)
        self._ended[(stream[0], stream[1])] = now + ttl
        while self._ended and next(iter(self._ended.values())) <= now:  # oldest first
            self._ended.popitem(last=False)

    async def stream_states(self, streams: list[OpenStream]) -> list[StreamState]:
        now = time.monotonic()
        states: list[StreamState] = []
        for session_id, stream_id, _ in streams:
            found = self._streams.get(session_id, {}).get(stream_id)
            if found is not None and found.expires > now:
                states.append("open")
            elif self._ended.get((session_id, stream_id), now) > now:
                states.append("ended")
            else:
                states.append("lapsed")
        return states

    async def open_streams(self, session_id: str) -> list[tuple[bytes, str]]:
        return [(s.info, s.text) for s in self._live_streams(session_id).values()]

    async def stream_info(self, session_id: str, stream_id: str) -> bytes | None:
        found = self._live_streams(session_id).get(stream_id)
        return None if found is None else found.info
