"""Streams: a message written piece by piece, relayed live, committed once.

The hub process a stream starts on holds it: its text (for the commit), a pump that
publishes what arrived at most once per `stream_delta_interval` (the deltas of that
interval as one `stream_delta` event), and the abort timer that runs while its author
has no connection to this process. The bus keeps each open stream's info and the text
published so far, so a participant joining through any process is sent the text so
far (`snapshot`) before the deltas that follow; the text is written to the bus before
its delta is published, so the two overlap and never leave a hole (clients trim the
overlap by `offset`).

`end` commits through the ordinary message path (the group commit, with its
`client_msg_id` idempotency), then forgets the stream and publishes `stream_ended`.
Deltas are never stored and take no message id. Ordinary messages cost nothing more.

A process that dies holding streams (killed, crashed) announces nothing: every other
process watches the open streams it has heard of in the sessions it has connections
to, held elsewhere (from their relayed `stream_started`, and from catch-ups), and
checks them in the bus every heartbeat, all in one round trip. One that lapsed there
(neither refreshed nor ended by its holder) is ended `aborted` (`lost`) by each such
process to its own connections, so that no one is told twice.

The frame handlers are plain functions, not coroutines, so that the frames of one
connection take effect in the order they were sent: a delta sent right after its
`stream_start` finds the stream (its opening, an await, goes on meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Coroutine
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn, TypeVar

import msgspec

from hub.bus import Bus, OpenStream
from hub.config import Config
from hub.domain import (
    MAX_STREAM_CHARS,
    AbortReason,
    Message,
    Principal,
    StreamInfo,
    check_stream_author,
    fresh_part,
)
from hub.errors import HubError
from hub.protocol import (
    StreamAbort,
    StreamDelta,
    StreamDeltaEvent,
    StreamEnd,
    StreamEndedEvent,
    StreamStart,
    StreamStartedEvent,
    encode,
)
from hub.services.events import Events
from hub.services.messages import Messages
from hub.store import Store
from hub.store import messages as message_store
from hub.store import sessions as session_store
from hub.tasks import cancel_and_wait

__all__ = ["Streams"]

log = logging.getLogger("hub.streams")

_info_decoder = msgspec.json.Decoder(StreamInfo)
_started_decoder = msgspec.json.Decoder(StreamStartedEvent)
_ended_decoder = msgspec.json.Decoder(StreamEndedEvent)
_STARTED = b'{"type":"stream_started"'
_ENDED = b'{"type":"stream_ended"'
_WATCHED = 16_384
"""Open streams held by other processes that one process watches at most (see
`Streams.observe`); beyond it, the watchers here of a further stream whose holder dies
are not told it ended (they see it gone at their next catch-up)."""
_REMEMBERED = 4096
"""Ended streams remembered (per process, by their ids only), so that a re-sent
`stream_abort` is answered, and a re-sent `stream_end` conflicting with how the stream
ended is told so. A re-sent end this process does not remember (another process, a
restart) is answered from the database by its `client_msg_id`."""

T = TypeVar("T")
_SNAPSHOT_PATIENCE = 0.5
"""Seconds a connection's catch-up waits for the open streams of its session."""
State = Literal["opening", "open", "ending", "closed"]


class _Stream:
    """One stream this process holds."""

    __slots__ = (
        "author",
        "flushed",
        "info",
        "last_flush",
        "opened",
        "parts",
        "published",
        "pump",
        "size",
        "state",
        "timer",
        "wake",
    )

    def __init__(self, author: Principal, info: StreamInfo) -> None:
        self.author = author
        self.info = info
        self.state: State = "opening"
        self.parts: list[str] = []
        self.size = 0
        self.flushed = 0
        """How many of `parts` the pump has published."""
        self.published = 0
        """Characters published (the next delta's offset)."""
        self.last_flush = float("-inf")
        self.wake = asyncio.Event()
        self.opened: asyncio.Task[StreamInfo] | None = None
        self.pump: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None

    @property
    def key(self) -> OpenStream:
        return (self.info.session_id, self.info.id, self.info.author_id)

    def now(self) -> StreamInfo:
        return msgspec.structs.replace(self.info, size=self.size)


class _Ended(msgspec.Struct, frozen=True):
    author_id: str
    client_msg_id: str | None
    message_id: int | None
    reason: AbortReason | None


class Streams:
    """The streams this process holds, and the catch-up of every session's open ones."""

    def __init__(
        self, config: Config, store: Store, bus: Bus, events: Events, messages: Messages
    ) -> None:
        self._store = store
        self._bus = bus
        self._events = events
        self._messages = messages
        self.interval = config.stream_delta_interval
        self.abort_timeout = config.stream_abort_timeout
        self.limit = config.max_streams_per_participant
        self._refresh_every = config.heartbeat_interval
        self._ttl = 3 * config.heartbeat_interval
        """Seconds an open stream stays in the bus unless refreshed: a process that dies
        holding streams leaves them for no longer than this."""
        self._open: dict[tuple[str, str], _Stream] = {}
        self._away: set[tuple[str, str]] = set()
        """(session, participant) whose last connection to this process has ended."""
        self._ended: OrderedDict[tuple[str, str], _Ended] = OrderedDict()
        self._elsewhere: dict[str, dict[str, OpenStream]] = {}
        """Session -> stream id -> the open streams, held by another process, of the
        sessions with connections here."""
        self._watched = 0
        self._watch_full_logged = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._refresher = asyncio.create_task(self._refresh(), name="hub-streams-refresh")

    async def close(self) -> None:
        """Abort every stream held here (its author reconnects elsewhere, where it
        cannot go on), then stop."""
        self._closing = True
        aborts = [
            self._run(self._abort(s, "shutdown"))
            for s in list(self._open.values())
            if s.state in ("opening", "open")
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await asyncio.gather(*aborts, return_exceptions=True)
        await cancel_and_wait([self._refresher, *self._tasks])
        for stream in list(self._open.values()):
            await self._drop(stream)

    # -- frames ------------------------------------------------------------------------

    def start_stream(self, who: Principal, frame: StreamStart) -> Awaitable[StreamInfo]:
        """Open a stream now (its deltas are taken from this moment); the awaitable
        resolves once it is recorded and announced. Raises at once if refused here."""
        check_stream_author(who, frame.msg_type)
        key = (who.session_id, frame.stream_id)
        held = self._open.get(key)
        if held is not None:
            self._check_author(held, who)
            if held.state not in ("opening", "open") or held.opened is None:
                raise HubError("conflict", f"stream {frame.stream_id!r} is ending")
            return held.opened  # a re-sent start: the same stream
        if self._closing:
            raise HubError("unavailable", "the hub is shutting down: start it again elsewhere")
        if len(self._streams_of(who)) >= self.limit:  # here already; the bus counts them all
            raise HubError(
                "rate_limited",
                f"a participant holds at most {self.limit} open streams at once: end one first",
            )
        self._ended.pop(key, None)
        info = StreamInfo(
            id=frame.stream_id,
            session_id=who.session_id,
            author_id=who.participant_id,
            author_role=who.role,
            msg_type=frame.msg_type,
            parent_id=frame.parent_id,
            started_at=datetime.now(UTC),
        )
        stream = _Stream(who, info)
        self._open[key] = stream
        stream.opened = self._run(self._opening(stream))  # owned: cancelled at close
        return stream.opened

    def delta(self, who: Principal, frame: StreamDelta) -> StreamInfo | None:
        """Take a delta (relayed by the pump); the stream as it stands after it, or
        None if this process does not hold the stream (see `explain_unknown`)."""
        stream = self._open.get((who.session_id, frame.stream_id))
        if stream is None:
            return None
        self._check_author(stream, who)
        if stream.state not in ("opening", "open"):
            raise HubError("conflict", f"stream {frame.stream_id!r} is ending")
        part = fresh_part(stream.size, frame.offset, frame.text)
        if stream.size + len(part) > MAX_STREAM_CHARS:
            raise HubError(
                "payload_too_large",
                f"a stream holds at most {MAX_STREAM_CHARS} characters"
                f" ({stream.size} so far, {len(part)} more refused)",
            )
        if part:
            stream.parts.append(part)
            stream.size += len(part)
            stream.wake.set()
        return stream.now()

    def end(self, who: Principal, frame: StreamEnd) -> Awaitable[tuple[Message, bool]]:
        """Commit the stream as one message: (message, was it a re-sent end)."""
        key = (who.session_id, frame.stream_id)
        stream = self._open.get(key)
        if stream is None:
            ended = self._ended.get(key)
            if ended is not None and ended.author_id == who.participant_id:
                self._ended_answer(frame, ended)
            return self._run(self._resent_end(who, frame))
        self._check_author(stream, who)
        if stream.state not in ("opening", "open"):
            raise HubError("conflict", f"stream {frame.stream_id!r} is ending")
        stream.state = "ending"
        return self._run(self._ending(stream, frame))

    async def _resent_end(self, who: Principal, frame: StreamEnd) -> tuple[Message, bool]:
        """A `stream_end` of a stream not open here: its message if one was committed
        under its `client_msg_id` (a re-sent end, whichever process took the first),
        else why the stream is unknown."""
        async with self._store.connection() as conn:
            message = await message_store.by_client_msg_id(
                conn, who.session_id, who.participant_id, frame.client_msg_id
            )
        if message is not None:
            return message, True
        await self.explain_unknown(who, frame.stream_id)

    def abort(self, who: Principal, frame: StreamAbort) -> Awaitable[None]:
        """End the stream without a message."""
        key = (who.session_id, frame.stream_id)
        stream = self._open.get(key)
        if stream is None:
            ended = self._ended.get(key)
            if ended is not None and ended.author_id == who.participant_id and ended.reason:
                return _settled(None)  # a re-sent abort
            return self.explain_unknown(who, frame.stream_id)
        self._check_author(stream, who)
        if stream.state not in ("opening", "open"):
            raise HubError("conflict", f"stream {frame.stream_id!r} is ending")
        stream.state = "ending"  # now: an end or abort read in the same batch is refused
        return self._run(self._abort(stream, "cancelled"))

    async def explain_unknown(self, who: Principal, stream_id: str) -> NoReturn:
        """The error for a stream this process does not hold."""
        raw = await self._bus.stream_info(who.session_id, stream_id)
        if raw is not None:
            if _info_decoder.decode(raw).author_id != who.participant_id:
                raise HubError("forbidden", f"stream {stream_id!r} is another participant's")
            raise HubError(
                "not_found",
                f"stream {stream_id!r} is held by the hub process it started on: go on "
                "there (or it ends aborted)",
            )
        raise HubError("not_found", f"no open stream {stream_id!r} in this session")

    # -- connections -------------------------------------------------------------------

    def returned(self, who: Principal) -> None:
        """The participant has a connection to this process again: its streams go on."""
        self._away.discard((who.session_id, who.participant_id))
        for stream in self._streams_of(who):
            if stream.timer is not None:
                stream.timer.cancel()
                stream.timer = None

    def left(self, who: Principal) -> None:
        """The participant's last connection to this process ended: its streams end
        aborted unless it returns within the abort timeout."""
        self._away.add((who.session_id, who.participant_id))
        for stream in self._streams_of(who):
            self._arm(stream)

    def _streams_of(self, who: Principal) -> list[_Stream]:
        return [
            s
            for s in self._open.values()
            if s.info.session_id == who.session_id and s.info.author_id == who.participant_id
        ]

    def _arm(self, stream: _Stream) -> None:
        if stream.timer is None and stream.state in ("opening", "open"):
            stream.timer = asyncio.get_running_loop().call_later(
                self.abort_timeout, self._timed_out, stream
            )

    def _timed_out(self, stream: _Stream) -> None:
        stream.timer = None
        if stream.state in ("opening", "open"):
            stream.state = "ending"
            self._run(self._abort(stream, "disconnected"))

    # -- catch-up ----------------------------------------------------------------------

    async def snapshot(self, session_id: str) -> list[StreamStartedEvent]:
        """The session's open streams with their text so far, oldest first (for a
        connection's catch-up). With the bus unhealthy, or slow to answer, none: a
        connection is never held up by it (its deltas still come, from then on)."""
        if not self._bus.healthy():
            return []
        try:
            async with asyncio.timeout(_SNAPSHOT_PATIENCE):
                found = await self._bus.open_streams(session_id)
        except Exception as exc:
            log.warning(
                "open streams of %s unknown (%s); catching up without them", session_id, exc
            )
            return []
        events = []
        for raw, text in found:
            try:
                info = _info_decoder.decode(raw)
            except msgspec.ValidationError:
                log.warning("dropped a malformed open stream of %s", session_id)
                continue
            info.size = len(text)
            events.append(StreamStartedEvent(stream=info, text=text))
            self._watch(info)
        events.sort(key=lambda e: e.stream.started_at)
        return events

    # -- the stream's life -------------------------------------------------------------

    def _check_author(self, stream: _Stream, who: Principal) -> None:
        if stream.info.author_id != who.participant_id:
            raise HubError("forbidden", f"stream {stream.info.id!r} is another participant's")

    async def _opening(self, stream: _Stream) -> StreamInfo:
        try:
            async with self._store.connection() as conn:
                await session_store.hold_for_write(conn, stream.info.session_id)
            try:
                recorded = await self._bus.open_stream(
                    stream.key, encode(stream.info), self.limit, self._ttl
                )
            except Exception as exc:
                raise HubError("unavailable", f"open streams cannot be recorded: {exc}") from None
            if recorded < 0:
                raise HubError(
                    "conflict", f"the session has an open stream {stream.info.id!r} already"
                )
            if recorded == 0:
                raise HubError(
                    "rate_limited",
                    f"a participant holds at most {self.limit} open streams at once: end one first",
                )
        except BaseException:
            if self._open.get((stream.info.session_id, stream.info.id)) is stream:
                del self._open[(stream.info.session_id, stream.info.id)]
            stream.state = "closed"
            raise
        if stream.state == "opening":
            stream.state = "open"
        await self._events.publish(stream.info.session_id, StreamStartedEvent(stream=stream.info))
        stream.pump = asyncio.create_task(
            self._pump(stream), name="hub-stream-pump", context=contextvars.Context()
        )
        if (stream.info.session_id, stream.info.author_id) in self._away:
            self._arm(stream)
        return stream.now()

    async def _pump(self, stream: _Stream) -> None:
        """Publish what arrived, at most once per interval, until the stream closes."""
        loop = asyncio.get_running_loop()
        while True:
            await stream.wake.wait()
            pause = stream.last_flush + self.interval - loop.time()
            if pause > 0 and stream.state != "closed":
                await asyncio.sleep(pause)  # pacing: the deltas meanwhile go as one
            if stream.state == "closed":
                return
            stream.wake.clear()
            text = "".join(stream.parts[stream.flushed :])
            stream.flushed = len(stream.parts)
            offset, stream.published = stream.published, stream.published + len(text)
            stream.last_flush = loop.time()
            await self._bus.append_stream(stream.key, text, self._ttl)
            await self._events.publish(
                stream.info.session_id,
                StreamDeltaEvent(
                    session_id=stream.info.session_id,
                    stream_id=stream.info.id,
                    author_id=stream.info.author_id,
                    offset=offset,
                    text=text,
                ),
            )

    async def _ending(self, stream: _Stream, frame: StreamEnd) -> tuple[Message, bool]:
        try:
            assert stream.opened is not None
            await stream.opened
            waiter = self._messages.enqueue(
                stream.author,
                content="".join(stream.parts),
                msg_type=stream.info.msg_type,
                metadata=frame.metadata,
                parent_id=stream.info.parent_id,
                client_msg_id=frame.client_msg_id,
                token_count=frame.token_count,
            )
            message, duplicate = await waiter
        except BaseException:
            if stream.state == "ending":  # not committed: the stream goes on
                stream.state = "open"
                if (stream.info.session_id, stream.info.author_id) in self._away:
                    self._arm(stream)
            raise
        await self._finish(
            stream,
            StreamEndedEvent(
                session_id=stream.info.session_id,
                stream_id=stream.info.id,
                author_id=stream.info.author_id,
                message_id=message.id,
            ),
            _Ended(stream.info.author_id, frame.client_msg_id, message.id, None),
        )
        return message, duplicate

    async def _abort(self, stream: _Stream, reason: AbortReason) -> None:
        stream.state = "ending"
        assert stream.opened is not None
        try:
            await stream.opened
        except HubError:
            return  # never opened: nothing to end
        await self._finish(
            stream,
            StreamEndedEvent(
                session_id=stream.info.session_id,
                stream_id=stream.info.id,
                author_id=stream.info.author_id,
                aborted=True,
                reason=reason,
            ),
            _Ended(stream.info.author_id, None, None, reason),
        )

    async def _finish(self, stream: _Stream, event: StreamEndedEvent, ended: _Ended) -> None:
        """Stop publishing deltas, forget the stream (in the bus before announcing its
        end, so a joiner never sees it open after the end), then announce the end."""
        await self._drop(stream)
        key = (stream.info.session_id, stream.info.id)
        self._ended[key] = ended
        while len(self._ended) > _REMEMBERED:
            self._ended.popitem(last=False)
        await self._bus.close_stream(stream.key, self._ttl)
        await self._events.publish(stream.info.session_id, event)

    async def _drop(self, stream: _Stream) -> None:
        stream.state = "closed"
        author = (stream.info.session_id, stream.info.author_id)
        if author in self._away and not any(
            s is not stream and (s.info.session_id, s.info.author_id) == author
            for s in self._open.values()
        ):
            self._away.discard(author)  # nothing of theirs left to end if they stay away
        if stream.timer is not None:
            stream.timer.cancel()
            stream.timer = None
        key = (stream.info.session_id, stream.info.id)
        if self._open.get(key) is stream:
            del self._open[key]
        if stream.pump is not None:
            # Told to stop rather than cancelled: redis-py (8.1) swallows a cancellation
            # that lands in a pipeline, and the pump would wait on for good. It stops
            # after what it is writing (bounded by the bus's own timeouts).
            stream.wake.set()
            with contextlib.suppress(Exception):
                await stream.pump

    def _ended_answer(self, frame: StreamEnd, ended: _Ended) -> None:
        """Raise if a re-sent end contradicts how the stream ended (its message is then
        read back by `_resent_end`)."""
        if ended.message_id is None:
            raise HubError("not_found", f"stream {frame.stream_id!r} was aborted ({ended.reason})")
        if ended.client_msg_id != frame.client_msg_id:
            raise HubError(
                "conflict",
                f"stream {frame.stream_id!r} was committed as message {ended.message_id}"
                " with another client_msg_id",
            )

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # answered to whoever waited; not an unhandled failure

    def _run(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """An owned task: cancelled when the hub closes."""
        task = asyncio.create_task(work, context=contextvars.copy_context())
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    async def _refresh(self) -> None:
        """Keep the open streams held here alive in the bus, and end those held by a
        process that is gone."""
        while not self._closing:  # a flag too: redis-py may swallow a cancellation
            await asyncio.sleep(self._refresh_every)
            held = [s.key for s in self._open.values() if s.state != "closed"]
            with contextlib.suppress(Exception):
                await self._bus.refresh_streams(held, self._ttl)
            try:
                await self._end_lost()
            except Exception as exc:  # the bus is failing: again next heartbeat
                log.warning("open streams held elsewhere not checked (%s)", exc)

    # -- streams held elsewhere --------------------------------------------------------

    def observe(self, session_id: str, frame: bytes) -> None:
        """An event fanned out to this process's connections (see `Rooms`): watch the
        streams that start elsewhere, and stop watching those that end."""
        if frame.startswith(_STARTED):
            try:
                started = _started_decoder.decode(frame)
            except msgspec.ValidationError:
                return
            self._watch(started.stream)
        elif frame.startswith(_ENDED):
            try:
                ended = _ended_decoder.decode(frame)
            except msgspec.ValidationError:
                return
            self._unwatch_one(session_id, ended.stream_id)

    def unwatch(self, session_id: str) -> None:
        """This process has no connection to the session any more: nobody here to tell."""
        self._watched -= len(self._elsewhere.pop(session_id, {}))
        self._watch_full_logged = False

    def _watch(self, info: StreamInfo) -> None:
        if (info.session_id, info.id) in self._open:
            return  # held here: its own end reaches the connections here
        streams = self._elsewhere.setdefault(info.session_id, {})
        if info.id not in streams:
            if self._watched >= _WATCHED:
                if not self._watch_full_logged:
                    log.warning("watching %d streams held elsewhere: no more", self._watched)
                    self._watch_full_logged = True
                if not streams:
                    del self._elsewhere[info.session_id]
                return
            self._watched += 1
        streams[info.id] = (info.session_id, info.id, info.author_id)

    def _unwatch_one(self, session_id: str, stream_id: str) -> None:
        streams = self._elsewhere.get(session_id)
        if streams is not None and streams.pop(stream_id, None) is not None:
            self._watched -= 1
            self._watch_full_logged = False
            if not streams:
                del self._elsewhere[session_id]

    async def _end_lost(self) -> None:
        """Check every stream watched here in the bus, at once; end those that lapsed,
        to the connections here."""
        watched = [key for streams in self._elsewhere.values() for key in streams.values()]
        if not watched:
            return
        states = await self._bus.stream_states(watched)
        for key, state in zip(watched, states, strict=True):
            session_id, stream_id, author_id = key
            if state == "open" or self._elsewhere.get(session_id, {}).get(stream_id) != key:
                continue  # going on; or its end was relayed meanwhile
            self._unwatch_one(session_id, stream_id)
            if state == "lapsed":  # ("ended": its own `stream_ended` is on its way)
                self._events.tell_here(
                    session_id,
                    StreamEndedEvent(
                        session_id=session_id,
                        stream_id=stream_id,
                        author_id=author_id,
                        aborted=True,
                        reason="lost",
                    ),
                )


def _settled(value: T) -> asyncio.Future[T]:
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future
