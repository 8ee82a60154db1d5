"""One live connection to a hub that outlives drops: the frames in and out under a
`Session`.

It connects (with `since`), reads hello, the catch-up and `resumed`, then live frames;
after a drop it reconnects after the last message delivered and re-sends the requests
still waiting for their answer (each is safe to repeat). Requests are the protocol's own
client frames, checked with the hub's decoder before they are sent; answers (`ack`,
`error`) settle them by `ref`; events queue up for the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from types import TracebackType
from typing import Self

import aiohttp
import msgspec

from hub.client.errors import (
    AuthFailed,
    HubClientError,
    HubTimeout,
    HubUnavailable,
    SessionDeleted,
    from_code,
    too_large,
)
from hub.client.rest import HubAPI
from hub.domain import Message, Note
from hub.errors import HubError
from hub.protocol import (
    CLOSE_AUTH_FAILED,
    CLOSE_SESSION_DELETED,
    Ack,
    ApprovalEvent,
    ClientFrame,
    ErrorFrame,
    Event,
    Hello,
    MessageEvent,
    NoteEvent,
    Pong,
    Resumed,
    ServerFrame,
    SetPresence,
    UpdateNote,
    You,
    decode_client_frame,
    decode_server_frame,
    encode,
    frame_type,
)

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "STOP", "Connection"]

log = logging.getLogger("hub.client")

DEFAULT_MAX_FRAME_BYTES = 1_048_576
STOP = HubClientError("closed", "stopped by the application")
"""Queued by `Session.stop`: the end of the event stream the application asked for."""


def _ws_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.startswith("http"):
        base = "ws" + base[4:]
    return base + "/ws"


class Connection:
    """The websocket side of a session: reconnects, resumes, re-sends, and answers each
    request with its `ack` (or raises its error)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        since: int | None,
        reconnect: bool,
        http: aiohttp.ClientSession,
        own_messages: bool = True,
        connect_timeout: float = 30.0,
        reconnect_timeout: float | None = None,
        request_timeout: float | None = 60.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._url = _ws_url(base_url)
        self._token = token
        self._http = http
        self._rest = HubAPI(base_url, http=http)
        self._reconnect = reconnect
        self._own_messages = own_messages
        self._connect_timeout = connect_timeout
        self._reconnect_timeout = reconnect_timeout
        self._request_timeout = request_timeout
        self._max_backoff = max_backoff
        self.last_id = since
        """Id of the last message handed to the application (resume point)."""
        self.hello: Hello | None = None
        # Unbounded: a full queue would stop the reader, and with it the acks that the
        # application's own sends wait for. Events wait here until the application reads.
        self._events: asyncio.Queue[Event | HubClientError] = asyncio.Queue()
        self._pending: dict[str, tuple[ClientFrame, asyncio.Future[Ack]]] = {}
        self._approval_waiters: dict[int, list[asyncio.Future[None]]] = {}
        """Futures set when the approval request (by message id) is seen decided."""
        self._refs = itertools.count(1)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._live = asyncio.Event()
        self._closed = False
        self._fatal: HubClientError | None = None
        self._task: asyncio.Task[None] | None = None
        self._presence: SetPresence | None = None
        self.reconnects = 0
        self.notes: dict[int, Note] = {}
        """The latest version seen of each note's content (from events, acks and reads);
        `hello.notes` lists every note without content."""

    # -- lifecycle ---------------------------------------------------------------------

    async def _start(self) -> None:
        first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(first), name="hub-client")
        try:
            await first
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Leave the session (the hub announces you offline once your last connection
        ends). Safe to call twice."""
        self._closed = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._fail_pending(HubClientError("closed", "the session was closed"))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def you(self) -> You:
        """Who this connection speaks for: participant id, role, display name."""
        assert self.hello is not None
        return self.hello.you

    @property
    def session_id(self) -> str:
        assert self.hello is not None
        return self.hello.session.id

    def is_mine(self, item: Message | MessageEvent) -> bool:
        """Whether a message (or message event) was posted by this participant."""
        message = item.message if isinstance(item, MessageEvent) else item
        return message.author_id == self.you.participant_id

    async def _run(self, first: asyncio.Future[None]) -> None:
        delay = 0.1
        down_since = time.monotonic()
        attempts = 0
        while not self._closed:
            try:
                await self._connect_once(first)
                delay, attempts = 0.1, 0
                down_since = time.monotonic()
            except HubClientError as exc:  # fatal: tell everyone waiting, stop
                await self._end(exc, first)
                return
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
                down_for = time.monotonic() - down_since + delay
                error = self._give_up(first.done(), down_for, reason)
                if error is not None:
                    await self._end(error, first)
                    return
                attempts += 1
                log.warning(
                    "hub connection failed (%s); retrying in %.1f s (attempt %d)",
                    reason,
                    delay,
                    attempts,
                )
            except Exception as exc:  # e.g. a frame this SDK cannot decode: fail loudly
                log.exception("the session failed")
                await self._end(HubClientError("internal", f"the session failed: {exc!r}"), first)
                return
            else:
                if not self._reconnect:
                    await self._end(HubUnavailable("unavailable", "the connection was lost"), first)
                    return
                log.warning("hub connection closed; reconnecting")
            if self._closed:
                return
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)

    def _give_up(self, was_live: bool, down_for: float, reason: str) -> HubUnavailable | None:
        """Why to stop trying after a failed attempt (`down_for`: seconds without a
        connection by the next try), or None to try again."""
        if not was_live:
            if down_for <= self._connect_timeout:
                return None
            return HubUnavailable(
                "unavailable",
                f"cannot connect to {self._url} within {self._connect_timeout:g} s: {reason}",
            )
        if not self._reconnect:
            return HubUnavailable("unavailable", "the connection was lost")
        if self._reconnect_timeout is not None and down_for > self._reconnect_timeout:
            return HubUnavailable(
                "unavailable",
                f"could not reconnect within {self._reconnect_timeout:g} s: {reason}",
            )
        return None

    async def _end(self, error: HubClientError, first: asyncio.Future[None]) -> None:
        """The session is over: fail what waits, and end the event stream with `error`."""
        self._fatal = error
        self._fail_pending(error)
        for message_id in list(self._approval_waiters):  # no decision will come now
            self._decided(message_id)
        if not first.done():
            first.set_exception(error)
        else:
            await self._events.put(error)

    async def _connect_once(self, first: asyncio.Future[None]) -> None:
        params = {} if self.last_id is None else {"since": str(self.last_id)}
        async with asyncio.timeout(self._connect_timeout):
            ws = await self._http.ws_connect(
                self._url,
                params=params,
                headers={"Authorization": f"Bearer {self._token}"},
                heartbeat=30.0,
                max_msg_size=0,
            )
        self._ws = ws
        try:
            catching_up = True
            deadline = asyncio.get_running_loop().time() + self._connect_timeout
            while True:
                # the hub sends hello, the history, then resumed: bound that part too
                async with asyncio.timeout_at(deadline if catching_up else None):
                    msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = decode_server_frame(msg.data)
                if frame is None:  # a newer server's frame type: clients ignore it
                    log.debug("ignored a server frame of unknown type %r", frame_type(msg.data))
                    continue
                if isinstance(frame, Resumed):
                    catching_up = False
                elif catching_up and isinstance(frame, MessageEvent):
                    deadline = asyncio.get_running_loop().time() + self._connect_timeout
                await self._on_frame(frame, first)
        finally:
            self._live.clear()
            self._ws = None
            if not ws.closed:  # left early (an error frame, a bad frame): release it
                with contextlib.suppress(Exception):
                    await ws.close()
        code = ws.close_code
        if code == CLOSE_AUTH_FAILED:
            raise AuthFailed("unauthorized", "the token was refused")
        if code == CLOSE_SESSION_DELETED:
            raise SessionDeleted("session_deleted", "the session was deleted")
        if code == 1009:
            self._fail_oversized()
        log.info("connection closed (%s)", code)

    async def _on_frame(self, frame: ServerFrame, first: asyncio.Future[None]) -> None:
        if isinstance(frame, MessageEvent):
            if self.last_id is not None and frame.message.id <= self.last_id:
                return  # already delivered before a reconnect
            self.last_id = frame.message.id
            self._saw_decision(frame.message)
            if self._own_messages or not self.is_mine(frame):
                await self._events.put(frame)
        elif isinstance(frame, Hello):
            self.hello = frame
            if self.last_id is None:
                self.last_id = frame.last_message_id
        elif isinstance(frame, Resumed):
            self._live.set()
            if not first.done():
                first.set_result(None)
            await self._after_resume()
        elif isinstance(frame, Ack):
            entry = self._pending.pop(frame.ref or "", None)
            if entry is not None and not entry[1].done():
                entry[1].set_result(frame)
        elif isinstance(frame, ErrorFrame):
            if frame.code == "unauthorized":
                raise AuthFailed(frame.code, frame.message)
            entry = self._pending.pop(frame.ref or "", None)
            if entry is not None and not entry[1].done():
                entry[1].set_exception(
                    from_code(
                        frame.code, frame.message, frame.note, frame.file, approval=frame.approval
                    )
                )
        elif not isinstance(frame, Pong):  # every other event reaches the application
            if isinstance(frame, ApprovalEvent):
                self._decided(frame.approval.message_id)
            if isinstance(frame, NoteEvent):
                self._saw_note(frame.note)
            await self._events.put(frame)

    async def _after_resume(self) -> None:
        """Re-send what was in flight when the connection dropped (each is safe to
        repeat), and re-apply the presence the application set."""
        if self._presence is not None and self.reconnects:
            await self._send(encode(self._presence))
        self._fail_oversized()
        for ref, (frame, future) in list(self._pending.items()):
            if isinstance(frame, UpdateNote) and frame.note_id is None:
                # creating a note is not idempotent: the first try may have created it
                self._pending.pop(ref, None)
                if not future.done():
                    future.set_exception(
                        HubClientError(
                            "unavailable",
                            "the connection dropped before the note was confirmed; "
                            "check whether it exists before creating it again",
                        )
                    )
                continue
            await self._send(encode(frame))

    async def _send(self, data: bytes) -> None:
        """Send a frame if connected; one lost to a drop is re-sent after the resume."""
        if self._ws is not None:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                await self._ws.send_str(data.decode())

    def _fail_oversized(self) -> None:
        """Pending frames over the hub's frame limit are refused, never re-sent (the hub
        would close the connection again, for ever)."""
        for ref, (frame, future) in list(self._pending.items()):
            size = len(encode(frame))
            if size > self._max_frame_bytes():
                self._pending.pop(ref, None)
                if not future.done():
                    future.set_exception(too_large(size, self._max_frame_bytes()))

    def _max_frame_bytes(self) -> int:
        return self.hello.max_frame_bytes if self.hello is not None else DEFAULT_MAX_FRAME_BYTES

    def _saw_note(self, note: Note) -> None:
        known = self.notes.get(note.id)
        if known is None or known.version < note.version:
            self.notes[note.id] = note

    def _saw_decision(self, message: Message) -> None:
        """A system message recording a decision (it comes in the history after a
        reconnect, when the live `approval` event may have been missed)."""
        if message.author_role == "system" and message.parent_id in self._approval_waiters:
            if isinstance(message.metadata.get("approval"), dict):
                self._decided(message.parent_id)

    def _decided(self, message_id: int | None) -> None:
        for waiter in self._approval_waiters.pop(message_id or 0, []):
            if not waiter.done():
                waiter.set_result(None)

    def _fail_pending(self, error: HubClientError) -> None:
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    async def _request(self, frame: ClientFrame) -> Ack:
        """Send `frame` under a fresh `ref` and wait for its ack. A frame over the hub's
        size limit, or one its decoder would refuse, raises here and is never sent."""
        if self._fatal is not None:
            raise self._fatal
        ref = f"c{next(self._refs)}"
        frame = msgspec.structs.replace(frame, ref=ref)
        data = encode(frame)
        if len(data) > self._max_frame_bytes():
            raise too_large(len(data), self._max_frame_bytes())
        try:
            decode_client_frame(data)
        except HubError as exc:  # the answer the hub would give, without the round trip
            raise from_code(exc.code, exc.message) from None
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending[ref] = (frame, future)
        if self._live.is_set():
            await self._send(data)
        # otherwise it goes out when the connection is back (see _after_resume)
        try:
            async with asyncio.timeout(self._request_timeout):
                return await future
        except TimeoutError:
            raise HubTimeout(
                "timeout",
                f"no answer within {self._request_timeout:g} s (the change may still be"
                " committed: retry it with the same id to be sure)",
            ) from None
        finally:
            self._pending.pop(ref, None)

    async def _next(self) -> Event | None:
        """The next event; None once `STOP` is reached; the error that ended the
        session is raised."""
        item = await self._events.get()
        if item is STOP:
            return None
        if isinstance(item, HubClientError):
            raise item
        return item
