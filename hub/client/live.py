"""The SDK's live session: events to iterate (or hand to handlers), actions to call.

`connect` resumes by itself after a dropped connection (with `since`), so iterating a
session yields every message exactly once, in id order, across drops. `send` assigns a
`client_msg_id` and re-sends it after a reconnect, so a retry never posts twice. Every
action sends the protocol's own client frame (`hub.protocol`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import IO, Any, Literal, TypeVar

import aiohttp

from hub import api
from hub.api.pipelines import RunDetail
from hub.client.attachments import AttachmentSource
from hub.client.connection import STOP, Connection
from hub.client.errors import Conflict, HubClientError
from hub.client.rest import new_client_msg_id, send_message
from hub.domain import (
    Artifact,
    ArtifactData,
    ArtifactKind,
    ArtifactVersionInfo,
    Attachment,
    FileEntry,
    FileInfo,
    Message,
    MsgType,
    Note,
    Presence,
    file_hash,
)
from hub.domain import Session as DomainSession
from hub.domain.approvals import DEFAULT_EXPIRES_IN, Approval, Decision
from hub.domain.jobs import Job, JobLogEntry
from hub.domain.pipelines import PipelineRun
from hub.protocol import (
    Decide,
    Event,
    InterruptAgent,
    MessageEvent,
    SetPresence,
    StreamAbort,
    StreamDelta,
    StreamEnd,
    StreamStart,
    UpdateNote,
    WriteFile,
)

__all__ = ["Session", "connect"]

E = TypeVar("E")
Handler = Callable[[E], Any]


class Session(Connection):
    """A live session: iterate it for events (or register handlers with `on` and `run`),
    call it to act. Made by `connect`."""

    def __init__(self, base_url: str, token: str, **options: Any) -> None:
        """`options` as `Connection`'s."""
        super().__init__(base_url, token, **options)
        self._handlers: list[tuple[type[Any], Handler[Any]]] = []

    # -- events ------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while (event := await self._next()) is not None:
            yield event

    async def next_event(self) -> Event:
        """The next event (or the error that ended the session); wrap it in
        `asyncio.timeout` to bound the wait."""
        event = await self._next()
        if event is None:
            raise STOP
        return event

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
        async for event in self:
            for event_type, handler in self._handlers:
                if isinstance(event, event_type):
                    result = handler(event)
                    if inspect.isawaitable(result):
                        await result

    def stop(self) -> None:
        """Make `run` return once the events before this call are handled."""
        self._events.put_nowait(STOP)

    # -- actions -----------------------------------------------------------------------

    async def send(
        self,
        content: str,
        *,
        msg_type: MsgType = "chat",
        metadata: dict[str, Any] | None = None,
        parent_id: int | None = None,
        attachments: Sequence[AttachmentSource] | None = None,
        token_count: int | None = None,
        client_msg_id: str | None = None,
    ) -> Message:
        """Post a message; returns it once committed. Safe across reconnects: a message
        in flight when the connection drops is re-sent with its `client_msg_id` and is
        committed once. Pass your own `client_msg_id` to make a retry after a
        `HubTimeout` safe too. `attachments`: bytes, local files (`Path`) and `Upload`s
        are uploaded first (over REST), `Attachment`s already uploaded are named by id,
        and a `str` is the path of one of the session's files."""
        paths: list[str] = []
        ids: list[str] = []
        if attachments:
            paths, ids = await self._rest.upload_sources(self.session_id, self._token, attachments)
        frame = send_message(
            content,
            msg_type=msg_type,
            metadata=metadata or {},
            parent_id=parent_id,
            attachments=paths,
            attachment_ids=ids,
            token_count=token_count,
            client_msg_id=client_msg_id,
        )
        ack = await self._request(frame)
        assert ack.message is not None
        return ack.message

    async def stream(
        self,
        chunks: AsyncIterable[str],
        *,
        msg_type: MsgType = "chat",
        reply_to: Message | int | None = None,
        metadata: dict[str, Any] | None = None,
        token_count: int | None = None,
        client_msg_id: str | None = None,
        stream_id: str | None = None,
        interval: float = 0.025,
    ) -> Message:
        """Stream a message from an async iterator of text chunks (a model's output, say):
        everyone in the session sees the text grow, then it is committed as one message,
        which is returned. Chunks that arrive within `interval` seconds go as one delta,
        and one delta at a time is in flight, each naming its offset, so a delta re-sent
        after a reconnect is applied once. If the iterator raises (or the task is
        cancelled) the stream is aborted and nothing is committed; an error from the hub
        (`PayloadTooLarge` past a message's size, say) aborts it too and is raised."""
        parent_id = reply_to.id if isinstance(reply_to, Message) else reply_to
        stream_id = stream_id or "st-" + new_client_msg_id()
        end = StreamEnd(
            stream_id=stream_id,
            client_msg_id=client_msg_id or new_client_msg_id(),
            metadata=metadata or {},
            token_count=token_count,
        )
        await self._request(
            StreamStart(stream_id=stream_id, msg_type=msg_type, parent_id=parent_id)
        )
        pending: list[str] = []
        arrived = asyncio.Event()

        async def read() -> None:
            async for chunk in chunks:
                pending.append(chunk)
                arrived.set()

        reader = asyncio.create_task(read())
        sent = 0
        try:
            while True:
                arrived.clear()
                if pending:
                    text = "".join(pending)
                    pending.clear()
                    await self._request(StreamDelta(stream_id=stream_id, text=text, offset=sent))
                    sent += len(text)
                    await asyncio.sleep(interval)  # pacing: what comes meanwhile goes as one
                    continue
                if reader.done():
                    reader.result()  # the iterator's own error, if it failed
                    break
                waiter = asyncio.create_task(arrived.wait())
                await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
            ack = await self._request(end)
        except BaseException:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await self._request(StreamAbort(stream_id=stream_id))
            raise
        assert ack.message is not None
        return ack.message

    async def reply(self, to: Message | MessageEvent, content: str, **fields: Any) -> Message:
        """Post a message answering `to` (its `parent_id`)."""
        message = to.message if isinstance(to, MessageEvent) else to
        return await self.send(content, parent_id=message.id, **fields)

    # -- approvals and interrupts --------------------------------------------------------

    async def request_approval(
        self,
        description: str,
        *,
        content: str | None = None,
        expires_in: float = DEFAULT_EXPIRES_IN,
        metadata: dict[str, Any] | None = None,
        within: float | None = None,
        client_msg_id: str | None = None,
    ) -> Approval:
        """Ask for approval (an `action` message whose `metadata.approval` carries the
        description and `expires_in` seconds) and wait for the decision: `approved`,
        `rejected`, or `expired` once its time is up. With `within`, returns the
        request still `pending` if it was not decided within that many seconds (wait
        again with `wait_for_approval`)."""
        message = await self.send(
            content if content is not None else description,
            msg_type="action",
            metadata={
                **(metadata or {}),
                "approval": {"description": description, "expires_in": expires_in},
            },
            client_msg_id=client_msg_id,
        )
        return await self.wait_for_approval(message.id, within=within)

    async def wait_for_approval(self, message_id: int, *, within: float | None = None) -> Approval:
        """Wait until the approval request `message_id` is decided (an `approval` event,
        or its decision message in the history after a reconnect), or its time is up
        (then a read shows it `expired`; its decision is recorded by the hub's sweeper
        within seconds, or by the next attempt to decide it), or `within` seconds
        passed: then it is returned `pending`. Raises the session's end (e.g.
        `session_deleted`) at once if it ends meanwhile."""
        if self._fatal is not None:
            raise self._fatal
        loop = asyncio.get_running_loop()
        decided: asyncio.Future[None] = loop.create_future()
        self._approval_waiters.setdefault(message_id, []).append(decided)
        try:
            approval = await self._rest.approval(self.session_id, self._token, message_id)
            if approval.status != "pending":
                return approval
            # the request's own expiry, by this machine's clock (a little after, so the
            # hub's clock has passed it too); then the read below shows it expired
            left = (approval.expires_at.timestamp() - time.time()) + 0.5
            wait = max(0.0, left if within is None else min(within, left))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await asyncio.shield(decided)
            if self._fatal is not None:  # woken by the session's end
                raise self._fatal
            return await self._rest.approval(self.session_id, self._token, message_id)
        finally:
            waiters = self._approval_waiters.get(message_id, [])
            if decided in waiters:
                waiters.remove(decided)
            if not waiters:
                self._approval_waiters.pop(message_id, None)

    async def decide(
        self, message_id: int, decision: Decision, comment: str | None = None
    ) -> Approval:
        """Decide the approval request `message_id`. Raises `Conflict` (its `approval`
        says how it was decided) if it was decided first or its time is up, and
        `HubClientError` `forbidden` if you are not an approver."""
        ack = await self._request(Decide(message_id=message_id, decision=decision, comment=comment))
        assert ack.approval is not None
        return ack.approval

    async def approvals(self, *, pending_only: bool = True) -> list[Approval]:
        """The session's approval requests (undecided ones unless `pending_only` is False)."""
        return await self._rest.approvals(self.session_id, self._token, pending_only=pending_only)

    async def interrupt(
        self, reason: str = "", *, target: Literal["agent_a", "agent_b"] = "agent_b"
    ) -> Message:
        """Ask agent `target` to stop (agent A and approvers may): it receives an
        `InterruptEvent` saying who and why. Returns the system message recording it."""
        ack = await self._request(InterruptAgent(target=target, reason=reason))
        assert ack.message is not None
        return ack.message

    async def create_note(self, title: str, content: str) -> Note:
        return await self._note(UpdateNote(title=title, content=content, expected_version=0))

    async def update_note(
        self, note_id: int, content: str, *, expected_version: int, title: str | None = None
    ) -> Note:
        """Edit a note at a version; raises `Conflict` (with the current note) if stale."""
        frame = UpdateNote(
            note_id=note_id, content=content, expected_version=expected_version, title=title
        )
        try:
            return await self._note(frame)
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

    async def _note(self, frame: UpdateNote) -> Note:
        ack = await self._request(frame)
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
        frame = WriteFile(path=path, content=content, expected_hash=expected_hash)
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
        self._presence = SetPresence(status=status, activity=activity)
        ack = await self._request(self._presence)
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

    async def upload(
        self,
        source: bytes | str | os.PathLike[str] | IO[bytes],
        *,
        name: str | None = None,
        content_type: str | None = None,
    ) -> Attachment:
        """Upload an attachment (bytes, a local file's path, or a binary file object),
        streamed; name it in a message with `send(..., attachments=[the attachment])`."""
        return await self._rest.upload_attachment(
            self.session_id, self._token, source, name=name, content_type=content_type
        )

    async def attachment(self, attachment_id: str) -> Attachment:
        return await self._rest.attachment(self.session_id, self._token, attachment_id)

    async def list_attachments(self) -> list[Attachment]:
        """Every attachment of the session, oldest first."""
        found: list[Attachment] = []
        after: str | None = None
        while True:
            page = await self._rest.attachments(self.session_id, self._token, after=after)
            found += page.attachments
            if page.next_after is None:
                return found
            after = page.next_after

    async def create_job(
        self,
        kind: str,
        input: Any = None,
        *,
        attachments: list[str] | None = None,
        estimated_cost: int = 0,
        max_attempts: int = 3,
        client_job_id: str | None = None,
    ) -> Job:
        """Queue a job (agents), its estimated cost reserved from the session's pool
        (`InsufficientCredits` if it holds less); a retry with the same
        `client_job_id` returns the job made the first time."""
        return await self._rest.create_job(
            self.session_id,
            self._token,
            kind,
            input,
            attachments=attachments,
            estimated_cost=estimated_cost,
            max_attempts=max_attempts,
            client_job_id=client_job_id,
        )

    async def job(self, job_id: str) -> Job:
        return await self._rest.job(self.session_id, self._token, job_id)

    async def cancel_job(self, job_id: str) -> Job:
        return await self._rest.cancel_job(self.session_id, self._token, job_id)

    async def job_log(self, job_id: str, *, after: int = 0, limit: int = 200) -> list[JobLogEntry]:
        """The job's log entries after `after` (a `seq`), oldest first."""
        return await self._rest.job_log(
            self.session_id, self._token, job_id, after=after, limit=limit
        )

    async def run_pipeline(
        self,
        artifact_id: int,
        *,
        version: int | None = None,
        costs: dict[str, int] | None = None,
        default_cost: int = 0,
        max_attempts: int = 3,
        client_run_id: str | None = None,
    ) -> PipelineRun:
        """Run a pipeline artifact node by node (agents): every node's job made and the
        whole estimated cost reserved at once (`InsufficientCredits` if the pool holds
        less, and nothing is made); a retry with the same `client_run_id` returns the
        run made the first time. Follow it with `pipeline_run` events."""
        return await self._rest.run_pipeline(
            self.session_id,
            self._token,
            artifact_id,
            version=version,
            costs=costs,
            default_cost=default_cost,
            max_attempts=max_attempts,
            client_run_id=client_run_id,
        )

    async def pipeline_run(self, run_id: str) -> RunDetail:
        """A run with its nodes' jobs and its execution log."""
        return await self._rest.pipeline_run(self.session_id, self._token, run_id)

    async def cancel_pipeline_run(self, run_id: str) -> PipelineRun:
        return await self._rest.cancel_pipeline_run(self.session_id, self._token, run_id)

    async def create_artifact(
        self,
        title: str,
        data: ArtifactData | dict[str, Any],
        *,
        message_id: int | None = None,
        message: str | None = None,
    ) -> Artifact:
        """Create an artifact on message `message_id`, or on a new message with the
        text `message` (sent first, with a fresh `client_msg_id`)."""
        new_message = None
        if message is not None:
            new_message = {"client_msg_id": new_client_msg_id(), "content": message}
        return await self._rest.create_artifact(
            self.session_id,
            self._token,
            title=title,
            data=data,
            message_id=message_id,
            message=new_message,
        )

    async def update_artifact(
        self,
        artifact_id: int,
        data: ArtifactData | dict[str, Any],
        *,
        expected_version: int,
        title: str | None = None,
    ) -> Artifact:
        """A new version; `Conflict` (with `.artifact`, the current one) if it moved on."""
        return await self._rest.update_artifact(
            self.session_id,
            self._token,
            artifact_id,
            data=data,
            expected_version=expected_version,
            title=title,
        )

    async def artifact(self, artifact_id: int) -> Artifact:
        return await self._rest.artifact(self.session_id, self._token, artifact_id)

    async def list_artifacts(self, kind: ArtifactKind | None = None) -> list[Artifact]:
        """The gallery: every artifact of the session (of one kind if given), newest first."""
        found: list[Artifact] = []
        before: int | None = None
        while True:
            page = await self._rest.artifacts(
                self.session_id, self._token, kind=kind, before=before, limit=200
            )
            found += page.artifacts
            if page.next_before is None:
                return found
            before = page.next_before

    async def artifact_versions(self, artifact_id: int) -> list[ArtifactVersionInfo]:
        """Every kept version of an artifact, newest first, without data."""
        found: list[ArtifactVersionInfo] = []
        before: int | None = None
        while True:
            page = await self._rest.artifact_versions(
                self.session_id, self._token, artifact_id, before=before, limit=200
            )
            found += page.versions
            if page.next_before is None:
                return found
            before = page.next_before

    async def download(self, attachment_id: str) -> bytes:
        """An attachment's bytes, whole (prefer `download_to` for large ones)."""
        return await self._rest.download_attachment(self.session_id, self._token, attachment_id)

    async def download_to(self, path: str | os.PathLike[str], attachment_id: str) -> int:
        """Stream an attachment into a file (which appears once whole); its size."""
        return await self._rest.download_attachment_to(
            path, self.session_id, self._token, attachment_id
        )

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
