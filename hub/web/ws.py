"""The websocket endpoint: authenticate, say hello, catch up, then relay both ways.

Connect to `/ws?since=<last id seen>` with the token in an `Authorization: Bearer`
header or a `token` query parameter (never logged). The server sends `hello`, the
messages after `since` (if given), `resumed`, then live events. Client frames are
handled concurrently (bounded per connection) and each is answered by an `ack` or an
`error` carrying its `ref`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

import msgspec
from aiohttp import WSMsgType, web

from hub.domain import FileInfo, Message, Principal, StreamInfo
from hub.errors import HubError
from hub.live import Outbox, Room
from hub.logs import bind_connection
from hub.protocol import (
    CLOSE_RATE_LIMITED,
    Ack,
    Decide,
    Hello,
    InterruptAgent,
    MessageEvent,
    Ping,
    Pong,
    Resumed,
    SendMessage,
    SetPresence,
    StreamAbort,
    StreamDelta,
    StreamEnd,
    StreamStart,
    UpdateNote,
    WriteFile,
    You,
    decode_client_frame,
    encode,
    frame_ref,
)
from hub.ratelimit import TokenBucket
from hub.services import PAGE_BYTES, Hub
from hub.web.frames import FrameWriter
from hub.web.http import bearer, close_code, error_frame, error_response, parse_id, send
from hub.web.keys import CONFIG, HUB, METRICS, SOCKETS
from hub.web.logs import unexpected

__all__ = ["websocket"]

log = logging.getLogger("hub.ws")

HISTORY_PAGE = 1000
MAX_IN_FLIGHT = 256  # client frames handled at once per connection


async def websocket(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    hub = request.app[HUB]
    since_raw = request.query.get("since")
    since: int | None = None
    if since_raw is not None:
        since = parse_id(since_raw)
        if since is None:
            return error_response(HubError("bad_request", "since must be a message id (>= 0)"))

    ws = web.WebSocketResponse(
        heartbeat=config.heartbeat_interval,
        max_msg_size=config.max_frame_bytes,
        compress=False,
    )
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    try:
        principal = await hub.access.authenticate(bearer(request))
        bind_connection(principal.session_id, principal.participant_id)
        slot = await hub.access.open_connection(principal)
    except HubError as exc:
        code = close_code(exc)
        request.app[METRICS].websocket_closed(code)
        with contextlib.suppress(ConnectionError):  # the peer may already be gone
            await ws.send_frame(encode(error_frame(exc, None)), WSMsgType.TEXT)
            await ws.close(code=code, message=exc.message.encode()[:120])
        return ws
    try:
        await Connection(hub, ws, principal, request).run(since)
    finally:
        await hub.access.close_connection(principal, slot)
    return ws


class Connection:
    """One authenticated websocket and its life: catch-up, relay, presence."""

    def __init__(
        self, hub: Hub, ws: web.WebSocketResponse, principal: Principal, request: web.Request
    ) -> None:
        config = request.app[CONFIG]
        self.hub = hub
        self.ws = ws
        self.request = request
        self.transport = request.transport
        self.frames = FrameWriter(request, ws)
        self.principal = principal
        self.metrics = request.app[METRICS]
        self.heartbeat = config.heartbeat_interval
        self.max_frame_bytes = config.max_frame_bytes
        self.bucket = TokenBucket(config.rate_per_second, config.rate_burst)
        self.strikes = 0
        self.max_strikes = config.rate_burst
        self.outbox = Outbox(
            principal,
            limit=config.send_queue_frames,
            send=self._send,
            close=self._close,
            write_now=self.frames.write_now,
            flusher=hub.rooms.flusher,
        )
        self.in_flight: set[asyncio.Task[None]] = set()
        self.pending_sends: set[asyncio.Future[tuple[Message, bool]]] = set()
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def _send(self, frames: list[bytes]) -> None:
        await self.frames.send(frames)

    async def _close(self, code: int, reason: str) -> None:
        """Send a close frame and wait for the peer's; a peer that takes neither within a
        heartbeat interval (it stopped reading) is cut off, so it holds nothing for long."""
        self.metrics.websocket_closed(code)
        try:
            async with asyncio.timeout(self.heartbeat):
                await self.ws.close(code=code, message=reason.encode()[:120])
        except TimeoutError:
            self.metrics.websocket_cut_off.inc()
            if self.transport is not None:
                self.transport.abort()

    def _drop_unsent(self) -> None:
        """A connection that ends with bytes still queued for its peer is dropped at once.
        Its peer stopped reading, and a plain close (the heartbeat's, say) would wait for
        them to be read, holding the socket and its buffers for as long as it never is."""
        if self.transport is not None and self.transport.get_write_buffer_size():
            self.transport.abort()

    def reply(self, frame: msgspec.Struct) -> None:
        self.outbox.offer(0, encode(frame))

    async def run(self, since: int | None) -> None:
        hub, principal = self.hub, self.principal
        try:
            room, first = await hub.rooms.enter(principal.session_id, self.outbox)
        except HubError as exc:
            await self._close(close_code(exc), exc.message)
            return
        live_from = room.last_id or 0
        try:
            if not await self._catch_up(room, since, live_from):
                return
            self.outbox.start()
            if self.outbox.closed_with is not None:
                return
            if first:
                hub.streams.returned(principal)
                await hub.presence.announce(principal)
            await self._read()
        except HubError as exc:
            log.warning("connection ended: %s", exc)
            with contextlib.suppress(Exception):
                await self._close(close_code(exc), exc.message)
        except ConnectionError:
            pass  # the peer went away mid-send; nothing left to tell it
        finally:
            for task in list(self.in_flight):
                task.cancel()
            await asyncio.gather(*self.in_flight, return_exceptions=True)
            last = await hub.rooms.leave(room, self.outbox)
            if last:
                hub.streams.left(principal)
            await self.outbox.stop()
            self._drop_unsent()
            if last and not room.deleted:
                with contextlib.suppress(HubError):
                    await hub.presence.leave(principal)

    async def _catch_up(self, room: Room, since: int | None, live_from: int) -> bool:
        """Send hello and the history after `since`, then go live. The room has been
        collecting live events for this connection since it entered, so the history
        read here overlaps them and nothing falls between (duplicates are dropped)."""
        snap = await self.hub.sessions.snapshot(self.principal)
        for presence in snap.presence:  # so the room can notice if they vanish later
            room.presence.setdefault(presence.participant_id, presence)
        hello = Hello(
            you=You(
                participant_id=self.principal.participant_id,
                role=self.principal.role,
                display_name=self.principal.display_name,
                watch_only=self.principal.watch_only,
            ),
            session=snap.session,
            last_message_id=live_from,
            heartbeat_interval=self.heartbeat,
            max_frame_bytes=self.max_frame_bytes,
            presence=snap.presence,
            notes=snap.notes,
            files=snap.files,
        )
        await self._send([encode(hello)])
        cursor = live_from
        if since is not None:
            cursor = since
            # Up to where the room went live; later messages reach us through the room.
            while cursor < live_from and self.outbox.closed_with is None:
                page = await self.hub.messages.fetch_after(
                    self.principal.session_id, cursor, HISTORY_PAGE, PAGE_BYTES
                )
                if not page:
                    break
                await self._send([encode(MessageEvent(message=m)) for m in page])
                cursor = page[-1].id
        if self.outbox.closed_with is not None:
            return False
        # Open streams after the history: each with its text so far. The room has been
        # collecting their deltas since it entered, so the two overlap (clients trim).
        streams = await self.hub.streams.snapshot(self.principal.session_id)
        await self._send([encode(s) for s in streams] + [encode(Resumed(last_message_id=cursor))])
        self.outbox.go_live(cursor)
        return True

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:
                data = msg.data
            elif msg.type == WSMsgType.BINARY:
                self.reply(error_frame(HubError("bad_request", "send JSON text frames"), None))
                continue
            else:
                break
            if not self.bucket.allow():
                self.strikes += 1
                self.metrics.limited("frames")
                if self.strikes > self.max_strikes:
                    await self._close(CLOSE_RATE_LIMITED, "rate limit exceeded repeatedly")
                    break
                self.reply(error_frame(HubError("rate_limited", "slow down"), frame_ref(data)))
                continue
            self.strikes = 0
            try:
                frame = decode_client_frame(data)
            except HubError as exc:
                self.reply(error_frame(exc, frame_ref(data)))
                continue
            except Exception as exc:  # a bug in decoding: answer it, keep the connection
                unexpected.report(exc, "decoding a websocket frame")
                self.reply(error_frame(HubError("internal", "internal error"), frame_ref(data)))
                continue
            if isinstance(frame, Ping):
                self.reply(Pong(ref=frame.ref))
                continue
            if isinstance(frame, SendMessage):  # the hot path: no task, a callback
                await self.slots.acquire()
                self._send_message(frame)
                continue
            if isinstance(frame, StreamStart | StreamDelta | StreamEnd | StreamAbort):
                self._stream(frame)  # at once, in order: a delta follows its start
                continue
            await self.slots.acquire()
            assert not isinstance(frame, SendMessage)
            task = asyncio.create_task(self._handle(frame))
            self.in_flight.add(task)
            task.add_done_callback(self._done)

    def _send_message(self, frame: SendMessage) -> None:
        try:
            waiter = send(self.hub, self.principal, frame)
        except HubError as exc:
            self.slots.release()
            self.reply(error_frame(exc, frame.ref))
            return
        self.pending_sends.add(waiter)

        def acked(done: asyncio.Future[tuple[Message, bool]]) -> None:
            self.pending_sends.discard(done)
            self.slots.release()
            if done.cancelled():
                return
            error = done.exception()
            if isinstance(error, HubError):
                self.reply(error_frame(error, frame.ref))
            elif error is not None:
                unexpected.report(error, "sending a message")
                self.reply(error_frame(HubError("internal", "internal error"), frame.ref))
            else:
                message, duplicate = done.result()
                self.reply(Ack(ref=frame.ref, message=message, duplicate=duplicate))

        waiter.add_done_callback(acked)

    def _stream(self, frame: StreamStart | StreamDelta | StreamEnd | StreamAbort) -> None:
        streams, who = self.hub.streams, self.principal
        try:
            if isinstance(frame, StreamDelta):
                stream = streams.delta(who, frame)
                if stream is None:
                    self._answer(frame.ref, streams.explain_unknown(who, frame.stream_id))
                elif frame.ref is not None:
                    self.reply(Ack(ref=frame.ref, stream=stream))
            elif isinstance(frame, StreamStart):
                self._answer(frame.ref, streams.start_stream(who, frame))
            elif isinstance(frame, StreamEnd):
                self._answer(frame.ref, streams.end(who, frame))
            else:
                self._answer(frame.ref, streams.abort(who, frame))
        except HubError as exc:
            self.reply(error_frame(exc, frame.ref))

    def _answer(self, ref: str | None, work: Awaitable[object]) -> None:
        """Answer `ref` once `work` is done (a stream started, committed or aborted)."""

        async def answer() -> None:
            # shielded: the stream's work goes on if this connection ends meanwhile
            result = await (work if asyncio.iscoroutine(work) else asyncio.shield(work))
            if isinstance(result, tuple):
                message, duplicate = result
                self.reply(Ack(ref=ref, message=message, duplicate=duplicate))
            elif result is None:
                self.reply(Ack(ref=ref))
            else:
                assert isinstance(result, StreamInfo)
                self.reply(Ack(ref=ref, stream=result))

        task = asyncio.create_task(self._guard(ref, answer()))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def _guard(self, ref: str | None, work: Awaitable[None]) -> None:
        try:
            await work
        except HubError as exc:
            self.reply(error_frame(exc, ref))
        except Exception as exc:
            unexpected.report(exc, "handling a stream frame")
            self.reply(error_frame(HubError("internal", "internal error"), ref))

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.slots.release()

    async def _handle(
        self, frame: UpdateNote | WriteFile | SetPresence | Decide | InterruptAgent
    ) -> None:
        hub, who = self.hub, self.principal
        try:
            if isinstance(frame, UpdateNote):
                note = await hub.notes.save(
                    who,
                    note_id=frame.note_id,
                    title=frame.title,
                    content=frame.content,
                    expected_version=frame.expected_version,
                )
                self.reply(Ack(ref=frame.ref, note=note))
            elif isinstance(frame, WriteFile):
                entry = await hub.files.write(
                    who, frame.path, frame.content, expected_hash=frame.expected_hash
                )
                info = FileInfo(**{f: getattr(entry, f) for f in FileInfo.__struct_fields__})
                self.reply(Ack(ref=frame.ref, file=info))
            elif isinstance(frame, SetPresence):
                presence = await hub.presence.announce(who, frame.status, frame.activity)
                self.reply(Ack(ref=frame.ref, presence=presence))
            elif isinstance(frame, Decide):
                approval = await hub.approvals.decide(
                    who, frame.message_id, frame.decision, frame.comment
                )
                self.reply(Ack(ref=frame.ref, approval=approval))
            elif isinstance(frame, InterruptAgent):
                message, _ = await hub.approvals.interrupt(who, frame.target, frame.reason)
                self.reply(Ack(ref=frame.ref, message=message))
        except HubError as exc:
            self.reply(error_frame(exc, frame.ref))
        except Exception as exc:
            unexpected.report(exc, f"handling a {type(frame).__name__} frame")
            self.reply(error_frame(HubError("internal", "internal error"), frame.ref))
