"""The Python SDK: talk to a hub from a bot or an agent without hand-rolling frames.

    async with connect("http://127.0.0.1:8080", token) as session:
        await session.send("hello")
        async for event in session:
            ...

`connect` resumes by itself after a dropped connection (with `since`), so iterating a
session yields every message exactly once, in id order, across drops. `send` assigns a
`client_msg_id` and re-sends it after a reconnect, so a retry never posts twice.
Errors the application must handle are exceptions: `AuthFailed`, `SessionDeleted`,
`SessionFull`, `Conflict` (carrying the current note or file), `HubClientError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp
import msgspec

from hub import api
from hub.domain import (
    Activity,
    FileEntry,
    FileInfo,
    Message,
    MsgType,
    Note,
    Presence,
    SessionStatus,
    file_hash,
)
from hub.domain import Session as DomainSession
from hub.protocol import (
    CLOSE_AUTH_FAILED,
    CLOSE_SESSION_DELETED,
    Ack,
    ErrorFrame,
    Event,
    FileEvent,
    Hello,
    MessageEvent,
    NoteEvent,
    PresenceEvent,
    Resumed,
    SessionEvent,
    You,
    decode_server_frame,
)

__all__ = [
    "AuthFailed",
    "Conflict",
    "HubAPI",
    "HubClientError",
    "HubTimeout",
    "HubUnavailable",
    "PayloadTooLarge",
    "Session",
    "SessionDeleted",
    "SessionFull",
    "connect",
]

log = logging.getLogger("hub.client")


class HubClientError(Exception):
    """An error answered by the hub: `code` is one of the hub's error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class AuthFailed(HubClientError):
    """The token is missing, unknown or revoked; retrying with it will not help."""


class SessionDeleted(HubClientError):
    """The session was deleted."""


class HubUnavailable(HubClientError):
    """The hub cannot be reached (or could not be reached again within the time given)."""


class HubTimeout(HubClientError):
    """The hub did not answer in time; the change may or may not have been made."""


class PayloadTooLarge(HubClientError):
    """The frame is larger than the hub accepts; it was not sent."""


class SessionFull(HubClientError):
    """Agent B has already joined that session."""


class Conflict(HubClientError):
    """A note or file changed since the version you based your edit on."""

    def __init__(self, message: str, note: Note | None = None, file: FileInfo | None = None):
        super().__init__("conflict", message)
        self.note = note
        self.file = file


_BY_CODE: dict[str, type[HubClientError]] = {
    "unauthorized": AuthFailed,
    "unavailable": HubUnavailable,
    "payload_too_large": PayloadTooLarge,
    "session_deleted": SessionDeleted,
    "session_full": SessionFull,
}


def _error(code: str, message: str, note: Note | None = None, file: Any = None) -> HubClientError:
    if code == "conflict":
        info = msgspec.convert(file, FileInfo) if isinstance(file, dict) else file
        return Conflict(message, note=note, file=info)
    return _BY_CODE.get(code, HubClientError)(code, message)


def _ws_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.startswith("http"):
        base = "ws" + base[4:]
    return base + "/ws"


# --- REST -------------------------------------------------------------------------------


class HubAPI:
    """REST helpers: create a session, join with an invite code, read history."""

    def __init__(self, base_url: str, *, http: aiohttp.ClientSession | None = None) -> None:
        self.base = base_url.rstrip("/")
        self._http = http
        self._own = http is None

    async def __aenter__(self) -> HubAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own and self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        clean = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._session().request(
                method,
                self.base + path,
                data=data,
                headers=headers,
                params=clean,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HubClientError(
                "unavailable", f"cannot reach the hub at {self.base}: {exc}"
            ) from exc
        decoded = msgspec.json.decode(raw) if raw else None
        if response.status >= 400:
            detail = decoded if isinstance(decoded, dict) else {}
            note = detail.get("note")
            raise _error(
                str(detail.get("code", "internal")),
                str(detail.get("message", f"HTTP {response.status}")),
                msgspec.convert(note, Note) if note else None,
                detail.get("file"),
            )
        return decoded

    async def create_session(self, **fields: Any) -> api.CreatedSession:
        """Create a session (fields as `api.CreateSession`); returns the credentials."""
        raw = await self.request("POST", "/api/sessions", body=fields)
        return msgspec.convert(raw, api.CreatedSession)

    async def join(
        self,
        invite_code: str,
        *,
        role: str = "agent",
        agent_id: str | None = None,
        display_name: str | None = None,
    ) -> api.JoinedSession:
        body: dict[str, Any] = {"invite_code": invite_code, "role": role}
        if agent_id:
            body["agent_id"] = agent_id
        if display_name:
            body["display_name"] = display_name
        return msgspec.convert(
            await self.request("POST", "/api/join", body=body), api.JoinedSession
        )

    async def history(
        self,
        session_id: str,
        token: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> api.MessagePage:
        raw = await self.request(
            "GET",
            f"/api/sessions/{session_id}/messages",
            token=token,
            params={"after": after, "before": before, "limit": limit},
        )
        return msgspec.convert(raw, api.MessagePage)

    async def all_messages(self, session_id: str, token: str) -> AsyncIterator[Message]:
        """Every message of the session, in id order, page by page."""
        after = 0
        while True:
            page = await self.history(session_id, token, after=after, limit=500)
            for message in page.messages:
                yield message
            # a page may hold fewer than `limit` (it is bounded by bytes too)
            if not page.messages or page.messages[-1].id >= page.last_message_id:
                return
            after = page.messages[-1].id

    async def send(self, session_id: str, token: str, content: str, **fields: Any) -> Message:
        body = {"client_msg_id": _new_id(), "content": content, **fields}
        raw = await self.request(
            "POST", f"/api/sessions/{session_id}/messages", token=token, body=body
        )
        return msgspec.convert(raw["message"], Message)

    async def session(self, session_id: str, token: str) -> DomainSession:
        """The session: name, status, participants, last message id."""
        raw = await self.request("GET", f"/api/sessions/{session_id}", token=token)
        return msgspec.convert(raw, DomainSession)

    async def update_session(
        self,
        session_id: str,
        token: str,
        *,
        status: SessionStatus | None = None,
        name: str | None = None,
    ) -> DomainSession:
        """Change the status (`active` starts or resumes, `paused`, `completed`) and/or
        the name; `HubClientError` `invalid_transition` if the status cannot change so."""
        body = {k: v for k, v in (("status", status), ("name", name)) if v is not None}
        raw = await self.request("PATCH", f"/api/sessions/{session_id}", token=token, body=body)
        return msgspec.convert(raw, DomainSession)

    async def delete_session(self, session_id: str, token: str) -> None:
        """Soft-delete the session (agent A); live connections close with 4004."""
        await self.request("DELETE", f"/api/sessions/{session_id}", token=token)

    async def invite(self, session_id: str, token: str) -> api.InviteInfo:
        """The session's current invite code (agent A)."""
        raw = await self.request("GET", f"/api/sessions/{session_id}/invite", token=token)
        return msgspec.convert(raw, api.InviteInfo)

    async def rotate_invite(self, session_id: str, token: str) -> api.InviteInfo:
        """Replace the invite code (agent A); the old one opens nothing any more."""
        raw = await self.request("POST", f"/api/sessions/{session_id}/invite", token=token)
        return msgspec.convert(raw, api.InviteInfo)

    async def notes(self, session_id: str, token: str) -> list[Note]:
        """Every note of the session, with its content."""
        raw = await self.request("GET", f"/api/sessions/{session_id}/notes", token=token)
        return msgspec.convert(raw["notes"], list[Note])

    async def note(self, session_id: str, token: str, note_id: int) -> Note:
        """One note with its content (`HubClientError` `not_found` if there is none)."""
        raw = await self.request("GET", f"/api/sessions/{session_id}/notes/{note_id}", token=token)
        return msgspec.convert(raw, Note)

    async def files(self, session_id: str, token: str) -> list[FileInfo]:
        """Every file of the session, without content."""
        raw = await self.request("GET", f"/api/sessions/{session_id}/files", token=token)
        return msgspec.convert(raw["files"], list[FileInfo])

    async def read_file(self, session_id: str, token: str, path: str) -> FileEntry:
        """One file with its content (`HubClientError` `not_found` if there is none)."""
        quoted = "/".join(urllib.parse.quote(part, safe="") for part in path.split("/"))
        raw = await self.request("GET", f"/api/sessions/{session_id}/files/{quoted}", token=token)
        return msgspec.convert(raw, FileEntry)

    async def presence(self, session_id: str, token: str) -> list[Presence]:
        """Who is online, working, idle or offline."""
        raw = await self.request("GET", f"/api/sessions/{session_id}/presence", token=token)
        return msgspec.convert(raw["presence"], list[Presence])

    async def activity(
        self, session_id: str, token: str, *, after: int = 0, limit: int = 100
    ) -> list[Activity]:
        """The audit log after the row id `after`: one row per change."""
        raw = await self.request(
            "GET",
            f"/api/sessions/{session_id}/activity",
            token=token,
            params={"after": after, "limit": limit},
        )
        return msgspec.convert(raw["activity"], list[Activity])


def _new_id() -> str:
    return "sdk-" + secrets.token_hex(12)


# --- websocket --------------------------------------------------------------------------


class Session:
    """A live session: iterate it for events (or register handlers with `on` and `run`),
    call it to act. Made by `connect`."""

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
        self._pending: dict[str, tuple[dict[str, Any], asyncio.Future[Ack]]] = {}
        self._refs = itertools.count(1)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._live = asyncio.Event()
        self._closed = False
        self._fatal: HubClientError | None = None
        self._task: asyncio.Task[None] | None = None
        self._presence: dict[str, Any] | None = None
        self._handlers: list[tuple[type[Any], Callable[[Any], Any]]] = []
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

    async def __aenter__(self) -> Session:
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
                if not first.done():
                    waited = time.monotonic() - down_since
                    if waited + delay > self._connect_timeout:
                        await self._end(
                            HubUnavailable(
                                "unavailable",
                                f"cannot connect to {self._url} within"
                                f" {self._connect_timeout:g} s: {reason}",
                            ),
                            first,
                        )
                        return
                elif not self._reconnect:
                    await self._end(HubUnavailable("unavailable", "the connection was lost"), first)
                    return
                elif self._reconnect_timeout is not None and (
                    time.monotonic() - down_since + delay > self._reconnect_timeout
                ):
                    await self._end(
                        HubUnavailable(
                            "unavailable",
                            f"could not reconnect within {self._reconnect_timeout:g} s: {reason}",
                        ),
                        first,
                    )
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

    async def _end(self, error: HubClientError, first: asyncio.Future[None]) -> None:
        """The session is over: fail what waits, and end the event stream with `error`."""
        self._fatal = error
        self._fail_pending(error)
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

    async def _on_frame(self, frame: Any, first: asyncio.Future[None]) -> None:
        if isinstance(frame, MessageEvent):
            if self.last_id is not None and frame.message.id <= self.last_id:
                return  # already delivered before a reconnect
            self.last_id = frame.message.id
            if self._own_messages or not self.is_mine(frame):
                await self._events.put(frame)
        elif isinstance(frame, (NoteEvent, FileEvent, PresenceEvent, SessionEvent)):
            if isinstance(frame, NoteEvent):
                self._saw_note(frame.note)
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
                entry[1].set_exception(_error(frame.code, frame.message, frame.note, frame.file))

    async def _after_resume(self) -> None:
        """Re-send what was in flight when the connection dropped (each is safe to
        repeat), and re-apply the presence the application set."""
        assert self._ws is not None
        if self._presence is not None and self.reconnects:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                await self._ws.send_str(msgspec.json.encode(self._presence).decode())
        self._fail_oversized()
        for ref, (frame, future) in list(self._pending.items()):
            if frame["type"] == "update_note" and frame.get("note_id") is None:
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
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                await self._ws.send_str(msgspec.json.encode({**frame, "ref": ref}).decode())

    def _fail_oversized(self) -> None:
        """Pending frames over the hub's frame limit are refused, never re-sent (the hub
        would close the connection again, for ever)."""
        for ref, (frame, future) in list(self._pending.items()):
            size = len(msgspec.json.encode({**frame, "ref": ref}))
            if size > self._max_frame_bytes():
                self._pending.pop(ref, None)
                if not future.done():
                    future.set_exception(_too_large(size, self._max_frame_bytes()))

    def _max_frame_bytes(self) -> int:
        return self.hello.max_frame_bytes if self.hello is not None else DEFAULT_MAX_FRAME_BYTES

    def _saw_note(self, note: Note) -> None:
        known = self.notes.get(note.id)
        if known is None or known.version < note.version:
            self.notes[note.id] = note

    def _fail_pending(self, error: HubClientError) -> None:
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    # -- events ------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            item = await self._events.get()
            if item is _STOP:
                return
            if isinstance(item, HubClientError):
                raise item
            yield item

    async def next_event(self) -> Event:
        """The next event (or the error that ended the session); wrap it in
        `asyncio.timeout` to bound the wait."""
        item = await self._events.get()
        if isinstance(item, HubClientError):
            raise item
        return item

    def on(self, *event_types: type[E]) -> Callable[[Handler[E]], Handler[E]]:
        """Register a handler for events of these types (all events if none), for `run`:

            @session.on(MessageEvent)
            async def reply(event: MessageEvent) -> None: ...

        A handler may be a coroutine function or a plain function; handlers run one
        event at a time, in order."""

        def register(handler: Handler[E]) -> Handler[E]:
            for event_type in event_types or (object,):
                self._handlers.append((event_type, handler))
            return handler

        return register

    async def run(self) -> None:
        """Deliver every event to the handlers registered with `on`, in order, until the
        session ends (its error is raised: `SessionDeleted`, `AuthFailed`, …), `stop` is
        called (then it returns), or the task is cancelled."""
        while True:
            item = await self._events.get()
            if item is _STOP:
                return
            if isinstance(item, HubClientError):
                raise item
            for event_type, handler in self._handlers:
                if isinstance(item, event_type):
                    result = handler(item)
                    if inspect.isawaitable(result):
                        await result

    def stop(self) -> None:
        """Make `run` return once the events before this call are handled."""
        self._events.put_nowait(_STOP)

    # -- actions -----------------------------------------------------------------------

    async def _request(self, frame: dict[str, Any]) -> Ack:
        if self._fatal is not None:
            raise self._fatal
        ref = f"c{next(self._refs)}"
        data = msgspec.json.encode({**frame, "ref": ref})
        if len(data) > self._max_frame_bytes():
            raise _too_large(len(data), self._max_frame_bytes())
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending[ref] = (frame, future)
        if self._live.is_set() and self._ws is not None:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                await self._ws.send_str(data.decode())
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

    async def send(
        self,
        content: str,
        *,
        msg_type: MsgType = "chat",
        metadata: dict[str, Any] | None = None,
        parent_id: int | None = None,
        attachments: list[str] | None = None,
        token_count: int | None = None,
        client_msg_id: str | None = None,
    ) -> Message:
        """Post a message; returns it once committed. Safe across reconnects: a message
        in flight when the connection drops is re-sent with its `client_msg_id` and is
        committed once. Pass your own `client_msg_id` to make a retry after a
        `HubTimeout` safe too."""
        frame: dict[str, Any] = {
            "type": "send",
            "client_msg_id": client_msg_id or _new_id(),
            "content": content,
            "msg_type": msg_type,
        }
        for key, value in (
            ("metadata", metadata),
            ("parent_id", parent_id),
            ("attachments", attachments),
            ("token_count", token_count),
        ):
            if value is not None:
                frame[key] = value
        ack = await self._request(frame)
        assert ack.message is not None
        return ack.message

    async def reply(self, to: Message | MessageEvent, content: str, **fields: Any) -> Message:
        """Post a message answering `to` (its `parent_id`)."""
        message = to.message if isinstance(to, MessageEvent) else to
        return await self.send(content, parent_id=message.id, **fields)

    async def create_note(self, title: str, content: str) -> Note:
        ack = await self._request(
            {"type": "update_note", "title": title, "content": content, "expected_version": 0}
        )
        assert ack.note is not None
        self._saw_note(ack.note)
        return ack.note

    async def update_note(
        self, note_id: int, content: str, *, expected_version: int, title: str | None = None
    ) -> Note:
        """Edit a note at a version; raises `Conflict` (with the current note) if stale."""
        frame: dict[str, Any] = {
            "type": "update_note",
            "note_id": note_id,
            "content": content,
            "expected_version": expected_version,
        }
        if title is not None:
            frame["title"] = title
        try:
            ack = await self._request(frame)
        except Conflict as conflict:
            current = conflict.note
            if current is not None:
                self._saw_note(current)
            # a re-sent edit that had already been applied comes back as a conflict
            if (
                current is not None
                and current.version == expected_version + 1
                and (current.content == content and current.last_editor == self.you.participant_id)
            ):
                return current
            raise
        assert ack.note is not None
        self._saw_note(ack.note)
        return ack.note

    async def get_note(self, note_id: int) -> Note:
        """The note's current version, with its content, read from the hub
        (`HubClientError` `not_found` if the session has no such note)."""
        note = await self._rest.note(self.session_id, self._token, note_id)
        self._saw_note(note)
        return self.notes[note_id]

    async def edit_note(
        self, note_id: int, change: Callable[[Note], str], *, attempts: int = 20
    ) -> Note:
        """Apply `change(current note) -> new content`, re-reading and re-applying on a
        conflict, so concurrent editors never lose each other's changes. The note is read
        from the hub first if this session has not seen its content yet."""
        current = self.notes.get(note_id)
        if current is None:
            current = await self.get_note(note_id)
        for _ in range(attempts):
            try:
                return await self.update_note(
                    note_id, change(current), expected_version=current.version
                )
            except Conflict as conflict:
                if conflict.note is None:
                    raise
                current = conflict.note
        raise HubClientError("conflict", f"note {note_id} kept changing; gave up")

    async def write_file(
        self, path: str, content: str, *, expected_hash: str | None = None
    ) -> FileInfo:
        frame: dict[str, Any] = {"type": "write_file", "path": path, "content": content}
        if expected_hash is not None:
            frame["expected_hash"] = expected_hash
        try:
            ack = await self._request(frame)
        except Conflict as conflict:
            if conflict.file is not None and conflict.file.content_hash == file_hash(content):
                return conflict.file  # a re-sent write that had already been applied
            raise
        assert ack.file is not None
        return ack.file

    async def set_presence(
        self, status: Literal["online", "working", "idle"], activity: str | None = None
    ) -> Presence:
        """Set your presence; it is re-applied after every reconnect (the hub refreshes
        it on heartbeats)."""
        frame: dict[str, Any] = {"type": "set_presence", "status": status}
        if activity is not None:
            frame["activity"] = activity
        self._presence = frame
        ack = await self._request(frame)
        assert ack.presence is not None
        return ack.presence

    # -- reads and session changes (REST, with this session's token) -------------------

    async def read_file(self, path: str) -> FileEntry:
        """A file with its content."""
        return await self._rest.read_file(self.session_id, self._token, path)

    async def list_notes(self) -> list[Note]:
        """Every note, with its content."""
        notes = await self._rest.notes(self.session_id, self._token)
        for note in notes:
            self._saw_note(note)
        return notes

    async def list_files(self) -> list[FileInfo]:
        """Every file, without content."""
        return await self._rest.files(self.session_id, self._token)

    async def history(
        self, *, after: int | None = None, before: int | None = None, limit: int = 100
    ) -> list[Message]:
        """A page of messages in id order: after `after`, or the last before `before`."""
        page = await self._rest.history(
            self.session_id, self._token, after=after, before=before, limit=limit
        )
        return page.messages

    async def presence(self) -> list[Presence]:
        """Everyone's presence as the hub knows it now."""
        return await self._rest.presence(self.session_id, self._token)

    async def info(self) -> DomainSession:
        """The session as it is now (name, status, last message id, …)."""
        return await self._rest.session(self.session_id, self._token)

    async def invite(self) -> api.InviteInfo:
        """The current invite code (agent A)."""
        return await self._rest.invite(self.session_id, self._token)

    async def rotate_invite(self) -> api.InviteInfo:
        """A new invite code; the old one opens nothing any more (agent A)."""
        return await self._rest.rotate_invite(self.session_id, self._token)

    async def rename(self, name: str) -> DomainSession:
        return await self._rest.update_session(self.session_id, self._token, name=name)

    async def start(self) -> DomainSession:
        """Start a waiting session (agent A) or resume a paused one."""
        return await self._rest.update_session(self.session_id, self._token, status="active")

    async def resume(self) -> DomainSession:
        return await self.start()

    async def pause(self) -> DomainSession:
        return await self._rest.update_session(self.session_id, self._token, status="paused")

    async def complete(self) -> DomainSession:
        """Complete the session: it becomes read-only."""
        return await self._rest.update_session(self.session_id, self._token, status="completed")

    async def delete(self) -> None:
        """Soft-delete the session (agent A); every connection closes with 4004."""
        await self._rest.delete_session(self.session_id, self._token)


DEFAULT_MAX_FRAME_BYTES = 1_048_576
_STOP = HubClientError("closed", "stopped by the application")
E = TypeVar("E")
Handler = Callable[[E], Any]


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        "payload_too_large", f"the frame is {size} bytes; the hub takes at most {limit}"
    )


@contextlib.asynccontextmanager
async def connect(
    base_url: str,
    token: str,
    *,
    since: int | None = 0,
    own_messages: bool = True,
    reconnect: bool = True,
    connect_timeout: float = 30.0,
    reconnect_timeout: float | None = None,
    request_timeout: float | None = 60.0,
    http: aiohttp.ClientSession | None = None,
) -> AsyncIterator[Session]:
    """Open a live session; returns once it is live (history delivered up to now).

    - `since`: the last message id you have; the messages after it are delivered first.
      The default 0 delivers the whole history; None: only what happens from now on.
      A reconnect always resumes after the last message delivered.
    - `own_messages`: False to not receive the messages you post yourself.
    - `connect_timeout`: seconds to keep trying the first connection (each attempt is
      bounded by it too) before raising `HubUnavailable`.
    - `reconnect_timeout`: seconds to keep trying after a drop before the session ends
      with `HubUnavailable` (None: for ever, with capped backoff, logged as warnings).
    - `request_timeout`: seconds an action waits for the hub's answer before raising
      `HubTimeout` (None: no limit).
    """
    own = http is None
    client = http or aiohttp.ClientSession()
    session = Session(
        base_url,
        token,
        since=since,
        reconnect=reconnect,
        http=client,
        own_messages=own_messages,
        connect_timeout=connect_timeout,
        reconnect_timeout=reconnect_timeout,
        request_timeout=request_timeout,
    )
    try:
        await session._start()
        yield session
    finally:
        await session.close()
        if own:
            await client.close()
