"""The MCP tools as plain code over the SDK: what `hub mcp` does for an agent, free of MCP.

One `Bridge` holds one live session (`hub.client.connect`: auto-resume, idempotent
sends) and the agent's read cursor. `wait_for_messages` returns every message after the
cursor that the agent did not post through this bridge, in id order, and moves the cursor
past them: each message is returned once, across calls and across reconnects of the
websocket (the cursor is a message id, and messages are read from the hub after it, so a
drop loses nothing and repeats nothing). The live events only wake the wait and say which
resource changed (`on_change`).

Every tool takes a msgspec Struct of arguments (`TOOLS` names them, with the text a
language model reads) and returns a msgspec Struct; a hub error is raised as the SDK's
`HubClientError`, with the hub's code. A note or file conflict is an answer, not an
error: it carries the current version so the model can merge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hub.client import Conflict, HubClientError, Session
from hub.client.rest import new_client_msg_id
from hub.commands import describe_message
from hub.domain import FileEntry, FileInfo, Message, Note, Presence
from hub.domain.approvals import (
    DEFAULT_EXPIRES_IN,
    MAX_DESCRIPTION_CHARS,
    MAX_EXPIRES_IN,
    Approval,
    TaskState,
)
from hub.domain.jobs import (
    DEFAULT_MAX_ATTEMPTS,
    FINISHED,
    KIND_PATTERN,
    Job,
    JobLogEntry,
)
from hub.domain.pools import MAX_CREDITS
from hub.protocol import (
    FileEvent,
    JobEvent,
    MessageEvent,
    NoteEvent,
    SessionEvent,
    StreamDeltaEvent,
    StreamEndedEvent,
    StreamStartedEvent,
)

__all__ = [
    "TOOLS",
    "Bridge",
    "Tool",
    "file_uri",
    "note_uri",
]

log = logging.getLogger("hub.mcp")

TRANSCRIPT_URI = "hub://session/transcript"
NOTE_PREFIX = "hub://notes/"
FILE_PREFIX = "hub://files/"
MAX_WAIT_SECONDS = 300.0
TRANSCRIPT_MESSAGES = 200
JOB_LOG_TAIL = 20
"""wait_for_job shows at most this many of a job's last log lines."""
"""The transcript resource shows this many of the latest messages."""
MAX_PARTIAL_CHARS = 2000
"""session_state shows at most this many of the latest characters of a stream being
written (the bridge keeps no more of it)."""

Changed = Callable[[str, bool], Awaitable[None]]
"""Told a resource URI that changed, and whether it is new (a note or file created)."""


def note_uri(note_id: int) -> str:
    return f"{NOTE_PREFIX}{note_id}"


def file_uri(path: str) -> str:
    """The resource URI of a file: each path segment percent-encoded, slashes kept."""
    return FILE_PREFIX + urllib.parse.quote(path, safe="/")


# -- what the tools answer --------------------------------------------------------------


class MessageView(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: int
    author: str
    role: str
    type: str
    content: str
    at: datetime
    reply_to: int | None = None
    attachments: list[str] = []
    metadata: dict[str, Any] = {}


def _message(m: Message) -> MessageView:
    return MessageView(
        id=m.id,
        author=m.author_id,
        role=m.author_role,
        type=m.msg_type,
        content=m.content,
        at=m.created_at,
        reply_to=m.parent_id,
        attachments=m.attachments,
        metadata=m.metadata,
    )


class NoteView(msgspec.Struct, kw_only=True):
    id: int
    title: str
    version: int
    last_editor: str
    updated_at: datetime
    content: str


def _note(n: Note) -> NoteView:
    return NoteView(
        id=n.id,
        title=n.title,
        version=n.version,
        last_editor=n.last_editor,
        updated_at=n.updated_at,
        content=n.content,
    )


class NoteSummaryView(msgspec.Struct, kw_only=True):
    id: int
    title: str
    version: int
    size: int
    last_editor: str
    updated_at: datetime
    uri: str


class FileView(msgspec.Struct, kw_only=True, omit_defaults=True):
    path: str
    version: int
    size: int
    content_hash: str
    last_editor: str
    updated_at: datetime
    uri: str
    content: str | None = None


def _file(f: FileInfo) -> FileView:
    return FileView(
        path=f.path,
        version=f.version,
        size=f.size,
        content_hash=f.content_hash,
        last_editor=f.last_editor,
        updated_at=f.updated_at,
        uri=file_uri(f.path),
        content=f.content if isinstance(f, FileEntry) else None,
    )


class PresenceView(msgspec.Struct, kw_only=True, omit_defaults=True):
    participant: str
    role: str
    status: str
    display_name: str | None = None
    activity: str | None = None


def _presence(p: Presence) -> PresenceView:
    return PresenceView(
        participant=p.participant_id,
        role=p.role,
        status=p.status,
        display_name=p.display_name,
        activity=p.activity,
    )


class SessionView(msgspec.Struct, kw_only=True):
    id: str
    name: str
    status: str
    mode: str
    agent_a: str
    agent_b: str | None


class YouView(msgspec.Struct, kw_only=True, omit_defaults=True):
    participant: str
    role: str
    display_name: str | None = None


class WritingView(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Someone writing a message now (streaming it): it arrives through
    wait_for_messages once they finish."""

    participant: str
    type: str
    characters: int
    """How much of it is written so far."""
    partial_text: str | None = None
    """(session_state only) The text written so far, unfinished: at most the last
    MAX_PARTIAL_CHARS characters."""
    partial_from: int | None = None
    """Where partial_text starts in the message (0: from its beginning)."""


class _Open:
    """An open stream of someone else's, from the live events: its size and the tail of
    its text (at most MAX_PARTIAL_CHARS characters, from `start`)."""

    __slots__ = ("characters", "participant", "start", "text", "type")

    def __init__(self, participant: str, type_: str, characters: int, text: str) -> None:
        self.participant, self.type, self.characters = participant, type_, characters
        self.start, self.text = characters - len(text), ""
        self.add(self.start, text)

    def add(self, offset: int, text: str) -> None:
        """`text` goes at `offset` (a delta may overlap what is held, or follow a gap)."""
        end = self.start + len(self.text)
        if offset > end:  # a gap (a lost delta): keep only what follows it
            self.start, self.text = offset, text
        elif offset + len(text) > end:
            if offset >= self.start:
                self.text = self.text[: offset - self.start] + text
            else:
                self.text = text[self.start - offset :]
        self.characters = max(self.characters, offset + len(text))
        if len(self.text) > MAX_PARTIAL_CHARS:
            self.start += len(self.text) - MAX_PARTIAL_CHARS
            self.text = self.text[-MAX_PARTIAL_CHARS:]

    def view(self, *, text: bool) -> WritingView:
        return WritingView(
            participant=self.participant,
            type=self.type,
            characters=self.characters,
            partial_text=self.text if text else None,
            partial_from=self.start if text else None,
        )


class State(msgspec.Struct, kw_only=True):
    session: SessionView
    you: YouView
    participants: list[PresenceView]
    notes: list[NoteSummaryView]
    files: list[FileView]
    last_message_id: int
    cursor: int
    """wait_for_messages returns the messages after this id."""
    unread: int
    """Messages after the cursor (some may be your own, which are skipped)."""
    writing: list[WritingView]


class InterruptedView(msgspec.Struct, kw_only=True):
    """Someone asked you to stop (the system message `message_id` records it)."""

    message_id: int
    by: str
    reason: str


class Waited(msgspec.Struct, kw_only=True, omit_defaults=True):
    messages: list[MessageView]
    cursor: int
    more: bool
    """More unread messages are waiting: call wait_for_messages again at once."""
    timed_out: bool
    writing: list[WritingView] = []
    """Who is writing a message now: if you timed out, waiting again will bring it."""
    interrupted: list[InterruptedView] = []
    """The interrupts aimed at you among `messages`: stop what you are doing."""


class Sent(msgspec.Struct, kw_only=True):
    message: MessageView


class History(msgspec.Struct, kw_only=True):
    messages: list[MessageView]
    last_message_id: int


class NoteList(msgspec.Struct, kw_only=True):
    notes: list[NoteSummaryView]


class FileList(msgspec.Struct, kw_only=True):
    files: list[FileView]


class Edited(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A note or file change: `saved`, or `conflict` with the current version."""

    status: Literal["saved", "conflict"]
    message: str
    note: NoteView | None = None
    file: FileView | None = None


class PresenceSet(msgspec.Struct, kw_only=True):
    presence: PresenceView


class ApprovalView(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An approval request: `pending` (call request_approval with its `message_id` to
    wait again), or decided `approved`, `rejected` or `expired`."""

    message_id: int
    status: str
    description: str
    expires_at: datetime
    decided_by: str | None = None
    comment: str | None = None


def _approval(a: Approval) -> ApprovalView:
    return ApprovalView(
        message_id=a.message_id,
        status=a.status,
        description=a.description,
        expires_at=a.expires_at,
        decided_by=a.decided_by,
        comment=a.comment,
    )


# -- what the tools take ----------------------------------------------------------------

Seconds = Annotated[
    float,
    msgspec.Meta(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description=f"how long to wait for a message, in seconds (0 to {MAX_WAIT_SECONDS:g})",
    ),
]
Id = Annotated[int, msgspec.Meta(ge=1)]


class JobLogLine(msgspec.Struct, kw_only=True):
    seq: int
    level: str
    text: str


class JobView(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A job as the model reads it: where it stands, what it produced, what it cost."""

    id: str
    kind: str
    status: str
    finished: bool
    progress: int
    progress_message: str = ""
    output: Any = None
    output_attachments: list[str] = []
    output_artifacts: list[int] = []
    error: str | None = None
    cost_reserved: int
    cost_used: int
    cost_charged: int | None = None
    attempts: int
    max_attempts: int
    log_count: int
    log_tail: list[JobLogLine] = []
    """Its last log lines (at most JOB_LOG_TAIL), oldest first."""
    timed_out: bool = False
    """wait_for_job: the wait ran out before the job finished (call it again)."""


def _job(j: Job, tail: list[JobLogEntry], timed_out: bool = False) -> JobView:
    return JobView(
        id=j.id,
        kind=j.kind,
        status=j.status,
        finished=j.status in FINISHED,
        progress=j.progress,
        progress_message=j.progress_message,
        output=j.output,
        output_attachments=j.output_attachments,
        output_artifacts=j.output_artifacts,
        error=j.error,
        cost_reserved=j.cost_reserved,
        cost_used=j.cost_used,
        cost_charged=j.cost_charged,
        attempts=j.attempts,
        max_attempts=j.max_attempts,
        log_count=j.log_count,
        log_tail=[JobLogLine(seq=e.seq, level=e.level, text=e.text) for e in tail],
        timed_out=timed_out,
    )


class NoArgs(msgspec.Struct, forbid_unknown_fields=True):
    pass


class SendArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    content: Annotated[str, msgspec.Meta(description="the message text (markdown)")]
    type: Annotated[
        Literal["chat", "handoff", "status", "action"],
        msgspec.Meta(
            description="chat: conversation; handoff: you pass the work to the other agent;"
            " status: a progress report; action: something you did or are about to do"
        ),
    ] = "chat"
    reply_to: Annotated[
        int | None, msgspec.Meta(description="the id of the message this one answers")
    ] = None
    attachments: Annotated[
        list[str], msgspec.Meta(description="paths of session files this message refers to")
    ] = []
    state: Annotated[
        TaskState | None,
        msgspec.Meta(
            description="with type 'status': where your task stands (working,"
            " input-required, completed, failed, cancelled)"
        ),
    ] = None


class ApprovalArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    description: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=MAX_DESCRIPTION_CHARS,
                description="what you ask to be allowed to do (required unless message_id)",
            ),
        ]
        | None
    ) = None
    content: Annotated[
        str | None, msgspec.Meta(description="the message text (default: the description)")
    ] = None
    expires_in: Annotated[
        float,
        msgspec.Meta(
            ge=1,
            le=MAX_EXPIRES_IN,
            description="seconds the request stays open before it expires (default 3600)",
        ),
    ] = DEFAULT_EXPIRES_IN
    timeout: Seconds = 60.0
    message_id: (
        Annotated[
            int,
            msgspec.Meta(
                ge=1, description="wait again on this earlier request instead of asking anew"
            ),
        ]
        | None
    ) = None


class WaitArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    timeout: Seconds = 30.0
    limit: Annotated[
        int, msgspec.Meta(ge=1, le=500, description="at most this many messages per call")
    ] = 100


class HistoryArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    before: (
        Annotated[int, msgspec.Meta(ge=1, description="the last messages before this id")] | None
    ) = None
    after: (
        Annotated[int, msgspec.Meta(ge=0, description="the first messages after this id")] | None
    ) = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=500, description="at most this many")] = 50


class NoteArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    note_id: Annotated[int, msgspec.Meta(ge=1, description="the note's id")]


class CreateNoteArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(description="the note's title (unique in the session)")]
    content: Annotated[str, msgspec.Meta(description="the note's markdown")]


class EditNoteArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    note_id: Annotated[int, msgspec.Meta(ge=1, description="the note's id")]
    content: Annotated[str, msgspec.Meta(description="the whole new markdown of the note")]
    expected_version: Annotated[
        int, msgspec.Meta(ge=1, description="the version your edit is based on")
    ]
    title: Annotated[str | None, msgspec.Meta(description="a new title (optional)")] = None


class FileArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    path: Annotated[str, msgspec.Meta(description="the file's path, like docs/plan.md")]


class WriteFileArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    path: Annotated[str, msgspec.Meta(description="the file's path, like docs/plan.md")]
    content: Annotated[str, msgspec.Meta(description="the whole new text of the file")]
    expected_hash: Annotated[
        str | None,
        msgspec.Meta(
            description='write only if the file\'s content_hash is still this ("": only if'
            " the file does not exist yet); omit to overwrite whatever is there"
        ),
    ] = None


class PresenceArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: Annotated[
        Literal["online", "working", "idle"], msgspec.Meta(description="what you are doing")
    ]
    activity: Annotated[
        str | None, msgspec.Meta(description="a few words on it, like 'writing the parser'")
    ] = None


JobId = Annotated[
    str,
    msgspec.Meta(pattern=r"^job_[A-Za-z0-9_-]{21}$", description="the job's id (job_…)"),
]


class CreateJobArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: Annotated[
        str,
        msgspec.Meta(
            pattern=KIND_PATTERN,
            description="the kind of work, as the session's runners serve it (fold.protein)",
        ),
    ]
    input: Annotated[
        Any, msgspec.Meta(description="what the job works on: free JSON, at most 16 KiB")
    ] = None
    estimated_cost: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=MAX_CREDITS,
            description="credits reserved from the session's pool now; the job is charged"
            " at most this",
        ),
    ] = 0
    attachments: Annotated[
        list[str],
        msgspec.Meta(max_length=32, description="ids (att_…) of the session's uploads it reads"),
    ] = []
    max_attempts: Annotated[
        int, msgspec.Meta(ge=1, le=10, description="tries before it ends timed_out")
    ] = DEFAULT_MAX_ATTEMPTS
    client_job_id: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=128,
                description="your id for this job: calling again with it returns the same"
                " job instead of making (and paying for) a second one",
            ),
        ]
        | None
    ) = None


class JobArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    job_id: JobId


class WaitJobArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    job_id: JobId
    timeout: Annotated[
        float,
        msgspec.Meta(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="how long to wait for the job to finish, in seconds (0: just look;"
            f" at most {MAX_WAIT_SECONDS:g})",
        ),
    ] = 60.0


class Tool(msgspec.Struct, frozen=True):
    """One tool: its name, what a language model reads about it, its arguments, and
    whether it only reads."""

    name: str
    description: str
    args: type[msgspec.Struct]
    read_only: bool


TOOLS: tuple[Tool, ...] = (
    Tool(
        "session_state",
        "Where you are: the session (name, status, agents), who you are, who is here now,"
        " the notes and files (without their content), the last message id, and how many"
        " messages you have not read yet, and who is writing a message right now, with"
        f" what they wrote so far (partial_text: unfinished, its last {MAX_PARTIAL_CHARS}"
        " characters at most, starting at character partial_from). Call it first.",
        NoArgs,
        True,
    ),
    Tool(
        "send_message",
        "Post a message to the session; everyone in it sees it at once. Returns the"
        " message with its id. Use type 'handoff' when you pass the work to the other"
        " agent, 'status' for progress, 'action' for something you did.",
        SendArgs,
        False,
    ),
    Tool(
        "request_approval",
        "Ask a human (or the approvers the session names) for permission before doing"
        " something, and wait up to `timeout` seconds for the decision. Returns status"
        " 'approved' or 'rejected' (with who decided and their comment), 'expired' if"
        " nobody decided within `expires_in` seconds, or 'pending' if `timeout` passed"
        " first: then call request_approval again with its `message_id` to keep waiting."
        " Do not go ahead unless the status is 'approved'.",
        ApprovalArgs,
        False,
    ),
    Tool(
        "wait_for_messages",
        "Wait for the messages you have not seen yet and return them, oldest first. Each"
        " message is returned once: a later call returns only newer ones. Your own messages"
        " are left out. Returns at once if some are waiting; otherwise waits up to"
        " `timeout` seconds and returns an empty list if nothing came (then call it again"
        " to keep listening). On the first call the whole history counts as unseen, in"
        " pages of `limit`; `more` says another page is waiting. `writing` lists who is"
        " writing a message right now (streaming it): it arrives here, whole, once done."
        " `interrupted` (when present) says who asked you to stop, and why: stop what you"
        " are doing, and say so with send_message (type 'status', state 'cancelled').",
        WaitArgs,
        True,
    ),
    Tool(
        "history",
        "Read earlier messages without moving your wait_for_messages position: the last"
        " `limit` messages, or those before the id `before`, or after the id `after`.",
        HistoryArgs,
        True,
    ),
    Tool(
        "list_notes",
        "The session's notes (shared markdown documents): id, title, version, size.",
        NoArgs,
        True,
    ),
    Tool("read_note", "One note with its content and its current version.", NoteArgs, True),
    Tool(
        "create_note",
        "Create a shared note (markdown) that every participant can read and edit.",
        CreateNoteArgs,
        False,
    ),
    Tool(
        "edit_note",
        "Replace a note's content. Give the version you read as `expected_version`. If"
        " someone changed the note since, nothing is saved and the answer has status"
        " 'conflict' with the note's current content and version: merge your change into"
        " that content and call edit_note again with the new version.",
        EditNoteArgs,
        False,
    ),
    Tool(
        "list_files",
        "The session's files (path, size, version, content_hash), without content.",
        NoArgs,
        True,
    ),
    Tool("read_file", "One file with its content and content_hash.", FileArgs, True),
    Tool(
        "write_file",
        "Create or replace a file in the session. Pass the content_hash you read as"
        " `expected_hash` to avoid overwriting someone else's change: on a mismatch nothing"
        " is saved and the answer has status 'conflict' with the current file.",
        WriteFileArgs,
        False,
    ),
    Tool(
        "create_job",
        "Ask for work done by a runner outside this conversation (a structure prediction,"
        " a test run, a build): `kind` names it, `input` says what to work on. Its"
        " `estimated_cost` in credits is reserved from the session's pool at once (error"
        " insufficient_credits if the pool holds less: ask for less, or tell a human);"
        " it is charged at most that. Returns the job, queued: follow it with"
        " wait_for_job. Give a `client_job_id` to make retrying safe.",
        CreateJobArgs,
        False,
    ),
    Tool(
        "wait_for_job",
        "Wait up to `timeout` seconds for a job to finish and return it: its status"
        " (queued, running, then succeeded, failed, cancelled or timed_out), progress,"
        " output (JSON, attachment ids, artifact ids), error, cost and its last log lines."
        " `finished` says it ended; if `timed_out` is true it is still under way: call"
        " again to keep waiting. `timeout` 0 just looks.",
        WaitJobArgs,
        True,
    ),
    Tool(
        "cancel_job",
        "Cancel a queued or running job (its runner stops; what it reported as used is"
        " charged, the rest of the reservation returns to the pool). Error"
        " invalid_transition if it already finished.",
        JobArgs,
        False,
    ),
    Tool(
        "set_presence",
        "Tell the others what you are doing: online, working (with an activity) or idle.",
        PresenceArgs,
        False,
    ),
)


class Bridge:
    """One agent's session, for the MCP tools. `start` pumps the live events; `close`
    stops it (the session itself belongs to the caller)."""

    def __init__(self, session: Session, *, cursor: int = 0) -> None:
        self.session = session
        self.cursor = cursor
        """wait_for_messages returns the messages after this id."""
        self.on_change: Changed | None = None
        self._latest = session.last_id or 0
        self._arrived = asyncio.Event()
        self._reading = asyncio.Lock()
        self._sent: set[str] = set()
        self._ended: HubClientError | None = None
        self._pump: asyncio.Task[None] | None = None
        self._known_notes = {n.id for n in session.hello.notes} if session.hello else set()
        self._known_files = {f.path for f in session.hello.files} if session.hello else set()
        self._writing: dict[tuple[str, str], _Open] = {}
        """Open streams of the others (author, stream id), from the live events."""
        self._job_moved = asyncio.Event()
        """Set (and replaced) at each `job` event: wait_for_job looks again."""

    @property
    def ended(self) -> HubClientError | None:
        """Why the session ended (the tools answer this), or None while it is live."""
        return self._ended

    def start(self) -> None:
        self._pump = asyncio.create_task(self._events(), name="hub-mcp-events")

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    async def call(self, name: str, args: msgspec.Struct) -> msgspec.Struct:
        """Run the tool `name` with its arguments (decoded as its `Tool.args`)."""
        if self._ended is not None:
            raise self._ended
        method: Callable[[Any], Awaitable[msgspec.Struct]] = getattr(self, name)
        return await method(args)

    # -- live events ---------------------------------------------------------------------

    async def _events(self) -> None:
        try:
            while True:
                event = await self.session.next_event()
                if isinstance(event, MessageEvent):
                    self._latest = max(self._latest, event.message.id)
                    self._wake()
                    await self._changed(TRANSCRIPT_URI, False)
                elif isinstance(event, NoteEvent):
                    new = event.note.id not in self._known_notes
                    self._known_notes.add(event.note.id)
                    await self._changed(note_uri(event.note.id), new)
                elif isinstance(event, FileEvent):
                    new = event.file.path not in self._known_files
                    self._known_files.add(event.file.path)
                    await self._changed(file_uri(event.file.path), new)
                elif isinstance(event, SessionEvent):
                    await self._changed(TRANSCRIPT_URI, False)
                elif isinstance(event, JobEvent):
                    self._job_moved.set()
                    self._job_moved = asyncio.Event()
                elif isinstance(event, StreamStartedEvent | StreamDeltaEvent | StreamEndedEvent):
                    self._saw_stream(event)
        except HubClientError as exc:  # the session ended: every tool answers why
            log.warning("the session ended: %s", exc)
            self._ended = exc
            self._wake()
            self._job_moved.set()

    def _saw_stream(self, event: StreamStartedEvent | StreamDeltaEvent | StreamEndedEvent) -> None:
        """Keep who is writing, and the tail of what they wrote so far: the model is
        told, not sent every delta (it reads the message, whole, once committed)."""
        if isinstance(event, StreamStartedEvent):
            info = event.stream
            if info.author_id == self.session.you.participant_id:
                return
            # a catch-up (after a reconnect) brings the text so far, `size` characters
            self._writing[(info.author_id, info.id)] = _Open(
                info.author_id, info.msg_type, info.size, event.text
            )
        elif isinstance(event, StreamDeltaEvent):
            writing = self._writing.get((event.author_id, event.stream_id))
            if writing is not None:
                writing.add(event.offset, event.text)
        else:
            self._writing.pop((event.author_id, event.stream_id), None)

    def writing(self, *, text: bool = False) -> list[WritingView]:
        """Who is writing now; with `text`, what they wrote so far (its tail)."""
        return [w.view(text=text) for w in self._writing.values()]

    def _wake(self) -> None:
        self._arrived.set()
        self._arrived = asyncio.Event()

    async def _changed(self, uri: str, new: bool) -> None:
        if self.on_change is None:
            return
        try:
            await self.on_change(uri, new)
        except Exception:  # a client gone away must not stop the events
            log.exception("could not tell the MCP client that %s changed", uri)

    # -- tools -----------------------------------------------------------------------------

    async def session_state(self, _: NoArgs) -> State:
        s = await self.session.info()
        presence = await self.session.presence()
        notes = await self.session.list_notes()
        files = await self.session.list_files()
        self._latest = max(self._latest, s.last_message_id)
        you = self.session.you
        return State(
            session=SessionView(
                id=s.id,
                name=s.name,
                status=s.status,
                mode=s.mode,
                agent_a=s.agent_a_id,
                agent_b=s.agent_b_id,
            ),
            you=YouView(
                participant=you.participant_id, role=you.role, display_name=you.display_name
            ),
            participants=[_presence(p) for p in presence],
            notes=[_summary(n) for n in notes],
            files=[_file(f) for f in files],
            last_message_id=s.last_message_id,
            cursor=self.cursor,
            unread=max(0, s.last_message_id - self.cursor),
            writing=self.writing(text=True),
        )

    async def send_message(self, args: SendArgs) -> Sent:
        client_msg_id = new_client_msg_id()
        self._sent.add(client_msg_id)
        try:
            message = await self.session.send(
                args.content,
                msg_type=args.type,
                parent_id=args.reply_to,
                attachments=args.attachments,
                metadata={"state": args.state} if args.state is not None else None,
                client_msg_id=client_msg_id,
            )
        except HubClientError:
            self._sent.discard(client_msg_id)
            raise
        return Sent(message=_message(message))

    async def request_approval(self, args: ApprovalArgs) -> ApprovalView:
        if args.message_id is not None:
            approval = await self.session.wait_for_approval(args.message_id, within=args.timeout)
            return _approval(approval)
        if args.description is None:
            raise HubClientError("bad_request", "give a description (or the message_id to wait on)")
        client_msg_id = new_client_msg_id()
        self._sent.add(client_msg_id)
        try:
            approval = await self.session.request_approval(
                args.description,
                content=args.content,
                expires_in=args.expires_in,
                within=args.timeout,
                client_msg_id=client_msg_id,
            )
        except HubClientError:
            self._sent.discard(client_msg_id)
            raise
        return _approval(approval)

    async def wait_for_messages(self, args: WaitArgs) -> Waited:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.timeout
        while True:
            async with self._reading:  # one reader at a time: a message goes to one call
                # taken before the read below awaits: a wake meanwhile (a message, the
                # session's end) is not lost, the wait after it returns at once
                arrived = self._arrived
                if self._ended is not None:
                    raise self._ended
                if self._latest > self.cursor:
                    found = await self._read_after_cursor(args.limit)
                    if found is not None:
                        return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                return Waited(
                    messages=[],
                    cursor=self.cursor,
                    more=False,
                    timed_out=True,
                    writing=self.writing(),
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await arrived.wait()

    async def _read_after_cursor(self, limit: int) -> Waited | None:
        """The unseen messages of the next page after the cursor, which moves past the
        page (None if the page held only one's own messages, or nothing)."""
        page = await self.session.history(after=self.cursor, limit=limit)
        if not page:
            return None
        self._latest = max(self._latest, page[-1].id)
        unseen = []
        interrupted = []
        for m in page:
            if m.client_msg_id is not None and m.client_msg_id in self._sent:
                self._sent.discard(m.client_msg_id)
                continue
            unseen.append(_message(m))
            aimed = self._interrupt_of(m)
            if aimed is not None:
                interrupted.append(aimed)
        # no await from here to the return: a cancelled call loses no message
        self.cursor = page[-1].id
        if not unseen:
            return None
        more = self._latest > self.cursor
        return Waited(
            messages=unseen,
            cursor=self.cursor,
            more=more,
            timed_out=False,
            writing=self.writing(),
            interrupted=interrupted,
        )

    def _interrupt_of(self, m: Message) -> InterruptedView | None:
        """The interrupt `m` records, if it is a system message aimed at this agent."""
        found = m.metadata.get("interrupt") if m.author_role == "system" else None
        if not isinstance(found, dict) or found.get("target_id") != self.session.you.participant_id:
            return None
        return InterruptedView(
            message_id=m.id, by=str(found.get("by", "")), reason=str(found.get("reason", ""))
        )

    async def history(self, args: HistoryArgs) -> History:
        before = args.before
        if before is None and args.after is None:
            before = (await self.session.info()).last_message_id + 1
        messages = await self.session.history(after=args.after, before=before, limit=args.limit)
        return History(messages=[_message(m) for m in messages], last_message_id=self._latest)

    async def list_notes(self, _: NoArgs) -> NoteList:
        return NoteList(notes=[_summary(n) for n in await self.session.list_notes()])

    async def read_note(self, args: NoteArgs) -> NoteView:
        return _note(await self.session.get_note(args.note_id))

    async def create_note(self, args: CreateNoteArgs) -> Edited:
        try:
            note = await self.session.create_note(args.title, args.content)
        except Conflict as conflict:
            return Edited(
                status="conflict",
                message=f"not created: {conflict.message}",
                note=_note(conflict.note) if conflict.note is not None else None,
            )
        return Edited(
            status="saved", message=f"note {note.id} created (version 1)", note=_note(note)
        )

    async def edit_note(self, args: EditNoteArgs) -> Edited:
        try:
            note = await self.session.update_note(
                args.note_id, args.content, expected_version=args.expected_version, title=args.title
            )
        except Conflict as conflict:
            current = conflict.note
            if current is None:
                raise
            return Edited(
                status="conflict",
                message=f"not saved: note {current.id} is at version {current.version} (by"
                f" {current.last_editor}), not {args.expected_version}. Merge your change"
                f" into the content below and call edit_note again with expected_version"
                f" {current.version}.",
                note=_note(current),
            )
        return Edited(
            status="saved",
            message=f"note {note.id} is now version {note.version}",
            note=_note(note),
        )

    async def list_files(self, _: NoArgs) -> FileList:
        return FileList(files=[_file(f) for f in await self.session.list_files()])

    async def read_file(self, args: FileArgs) -> FileView:
        return _file(await self.session.read_file(args.path))

    async def write_file(self, args: WriteFileArgs) -> Edited:
        try:
            info = await self.session.write_file(
                args.path, args.content, expected_hash=args.expected_hash
            )
        except Conflict as conflict:
            current: FileInfo | None = conflict.file
            with contextlib.suppress(HubClientError):  # gone meanwhile: say what we know
                current = await self.session.read_file(args.path)
            if current is None:
                raise
            return Edited(
                status="conflict",
                message=f"not saved: {args.path} has content_hash {current.content_hash}"
                f" (version {current.version}, by {current.last_editor}), not"
                f" {args.expected_hash!r}. Merge your change into the current content and"
                f" write again with expected_hash {current.content_hash!r}.",
                file=_file(current),
            )
        return Edited(
            status="saved",
            message=f"{info.path} is now version {info.version}",
            file=_file(info),
        )

    async def create_job(self, args: CreateJobArgs) -> JobView:
        job = await self.session.create_job(
            args.kind,
            args.input,
            attachments=args.attachments,
            estimated_cost=args.estimated_cost,
            max_attempts=args.max_attempts,
            client_job_id=args.client_job_id,
        )
        return _job(job, [])

    async def wait_for_job(self, args: WaitJobArgs) -> JobView:
        """The job once finished, or as it stands when `timeout` runs out; woken by the
        session's `job` events (any job's: the job is read again)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.timeout
        while True:
            moved = self._job_moved  # taken before the read: a change meanwhile wakes
            if self._ended is not None:
                raise self._ended
            job = await self.session.job(args.job_id)
            remaining = deadline - loop.time()
            if job.status in FINISHED or remaining <= 0:
                return await self._job_view(job, timed_out=job.status not in FINISHED)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await moved.wait()

    async def _job_view(self, job: Job, *, timed_out: bool) -> JobView:
        tail: list[JobLogEntry] = []
        if job.log_count:
            after = max(0, job.log_count - JOB_LOG_TAIL)
            tail = await self.session.job_log(job.id, after=after, limit=JOB_LOG_TAIL)
        return _job(job, tail, timed_out)

    async def cancel_job(self, args: JobArgs) -> JobView:
        return await self._job_view(await self.session.cancel_job(args.job_id), timed_out=False)

    async def set_presence(self, args: PresenceArgs) -> PresenceSet:
        presence = await self.session.set_presence(args.status, args.activity)
        return PresenceSet(presence=_presence(presence))

    # -- resources -------------------------------------------------------------------------

    async def transcript(self) -> str:
        """The latest messages, one line each."""
        messages = await self.session.history(
            before=(await self.session.info()).last_message_id + 1, limit=TRANSCRIPT_MESSAGES
        )
        return "".join(describe_message(m) + "\n" for m in messages)

    async def note_text(self, note_id: int) -> str:
        return (await self.session.get_note(note_id)).content

    async def file_text(self, path: str) -> str:
        return (await self.session.read_file(path)).content

    async def resources(self) -> tuple[list[Note], list[FileInfo]]:
        return await self.session.list_notes(), await self.session.list_files()


def _summary(n: Note) -> NoteSummaryView:
    return NoteSummaryView(
        id=n.id,
        title=n.title,
        version=n.version,
        size=len(n.content),
        last_editor=n.last_editor,
        updated_at=n.updated_at,
        uri=note_uri(n.id),
    )
