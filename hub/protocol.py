"""The websocket protocol: every client and server frame, and the close codes.

Frames are JSON objects tagged by `type`. Decoding a client frame is validating it:
anything that does not decode into one of `ClientFrame` is answered with a typed error.
This module is pure: no sockets, no event loop.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

import msgspec

from hub.domain import (
    MAX_ATTACHMENTS_PER_MESSAGE,
    MAX_CONTENT_CHARS,
    MAX_FILE_CHARS,
    MAX_NOTE_CHARS,
    AbortReason,
    Artifact,
    Attachment,
    AttachmentId,
    FileEntry,
    FileInfo,
    Message,
    MsgType,
    Note,
    NoteSummary,
    Presence,
    Role,
    Session,
    StreamInfo,
    check_metadata,
)
from hub.domain.approvals import (
    MAX_COMMENT_CHARS,
    MAX_REASON_CHARS,
    Approval,
    Decision,
    Interrupt,
)
from hub.domain.jobs import Job, JobLogEntry
from hub.errors import HubError

__all__ = [
    "CLOSE_AUTH_FAILED",
    "CLOSE_CODES",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_RATE_LIMITED",
    "CLOSE_SESSION_DELETED",
    "CLOSE_SHUTTING_DOWN",
    "CLOSE_TOO_MANY_CONNECTIONS",
    "CLOSE_TOO_SLOW",
    "CLOSE_TRY_AGAIN_LATER",
    "SERVER_FRAME_TYPES",
    "Ack",
    "ApprovalEvent",
    "ArtifactEvent",
    "AttachmentEvent",
    "ClientFrame",
    "Decide",
    "ErrorFrame",
    "FileEvent",
    "Hello",
    "InterruptAgent",
    "InterruptEvent",
    "JobEvent",
    "JobLogEvent",
    "MessageEvent",
    "NoteEvent",
    "Ping",
    "Pong",
    "PresenceEvent",
    "Resumed",
    "SendMessage",
    "SessionEvent",
    "SetPresence",
    "StreamAbort",
    "StreamDelta",
    "StreamDeltaEvent",
    "StreamEnd",
    "StreamEndedEvent",
    "StreamEvent",
    "StreamFrame",
    "StreamStart",
    "StreamStartedEvent",
    "UpdateNote",
    "WriteFile",
    "decode_client_frame",
    "encode",
]

# --- close codes (one table; PROTOCOL documentation mirrors it) ---------------------
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_AUTH_FAILED = 4001
CLOSE_SESSION_DELETED = 4004
CLOSE_TOO_SLOW = 4008
CLOSE_TOO_MANY_CONNECTIONS = 4009
CLOSE_SHUTTING_DOWN = 4012
CLOSE_RATE_LIMITED = 4029

CLOSE_CODES: dict[int, str] = {
    1009: "frame too large",
    CLOSE_INTERNAL_ERROR: "the server failed unexpectedly; reconnect with since=<last id>",
    CLOSE_TRY_AGAIN_LATER: "the database is unavailable; reconnect with since=<last id> soon",
    CLOSE_AUTH_FAILED: "missing, unknown or revoked token; do not retry with it",
    CLOSE_SESSION_DELETED: "the session was deleted; do not reconnect",
    CLOSE_TOO_SLOW: "too slow to keep up; reconnect with since=<last id seen>",
    CLOSE_TOO_MANY_CONNECTIONS: "this participant holds too many connections; close one, "
    "then reconnect",
    CLOSE_SHUTTING_DOWN: "server shutting down; reconnect (anywhere) with since=<last id>",
    CLOSE_RATE_LIMITED: "flooding; reconnect later",
}

# --- client frames ------------------------------------------------------------------


# Bounds that keep every value inside what the schema can store (int32 versions and
# counts, bigint ids) and frames to a sane size; they also appear in the OpenAPI document.
Ref = Annotated[str, msgspec.Meta(max_length=128)]
MessageId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
Text = Annotated[str, msgspec.Meta(max_length=200)]


class SendMessage(msgspec.Struct, tag="send", kw_only=True, forbid_unknown_fields=True):
    """Post a message; `client_msg_id` makes retries safe (one message per id)."""

    client_msg_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    content: Annotated[str, msgspec.Meta(max_length=MAX_CONTENT_CHARS)]
    msg_type: MsgType = "chat"
    metadata: dict[str, Any] = {}
    parent_id: MessageId | None = None
    token_count: Count | None = None
    attachments: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=512)]], msgspec.Meta(max_length=32)
    ] = []
    """Paths of this session's files."""
    attachment_ids: Annotated[
        list[AttachmentId], msgspec.Meta(max_length=MAX_ATTACHMENTS_PER_MESSAGE)
    ] = []
    """Uploads of this session (`att_…`, `POST /api/sessions/{id}/attachments`)."""
    ref: Ref | None = None

    def __post_init__(self) -> None:
        check_metadata(self.metadata)


class UpdateNote(msgspec.Struct, tag="update_note", kw_only=True, forbid_unknown_fields=True):
    """Create a note (`note_id` null, `expected_version` 0) or edit one at a version."""

    content: Annotated[str, msgspec.Meta(max_length=MAX_NOTE_CHARS)]
    expected_version: Count
    note_id: MessageId | None = None
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    ref: Ref | None = None


class WriteFile(msgspec.Struct, tag="write_file", kw_only=True, forbid_unknown_fields=True):
    """Write a file; with `expected_hash`, only if its content still has that hash
    (`""` means: only if the file does not exist yet)."""

    path: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    content: Annotated[str, msgspec.Meta(max_length=MAX_FILE_CHARS)]
    expected_hash: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    ref: Ref | None = None


class SetPresence(msgspec.Struct, tag="set_presence", kw_only=True, forbid_unknown_fields=True):
    status: Literal["online", "working", "idle"]
    activity: Text | None = None
    ref: Ref | None = None


class Ping(msgspec.Struct, tag="ping", kw_only=True, forbid_unknown_fields=True):
    ref: Ref | None = None


StreamId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class StreamStart(msgspec.Struct, tag="stream_start", kw_only=True, forbid_unknown_fields=True):
    """Open a stream: a message written piece by piece (`stream_delta`), committed by
    `stream_end`. `stream_id` is yours to choose, unique among the session's open
    streams; starting again one of yours that is open answers it unchanged."""

    stream_id: StreamId
    msg_type: MsgType = "chat"
    parent_id: MessageId | None = None
    ref: Ref | None = None


class StreamDelta(msgspec.Struct, tag="stream_delta", kw_only=True, forbid_unknown_fields=True):
    """Append `text` to an open stream of yours. With `offset` (the characters sent
    before this delta) a re-sent delta is applied once. Acked only when it has a `ref`."""

    stream_id: StreamId
    text: Annotated[str, msgspec.Meta(max_length=MAX_CONTENT_CHARS)]
    offset: Count | None = None
    ref: Ref | None = None


class StreamEnd(msgspec.Struct, tag="stream_end", kw_only=True, forbid_unknown_fields=True):
    """Commit the stream's whole text as one message (acked like `send`, with the same
    `client_msg_id` idempotency)."""

    stream_id: StreamId
    client_msg_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    metadata: dict[str, Any] = {}
    token_count: Count | None = None
    ref: Ref | None = None

    def __post_init__(self) -> None:
        check_metadata(self.metadata)


class StreamAbort(msgspec.Struct, tag="stream_abort", kw_only=True, forbid_unknown_fields=True):
    """Drop an open stream of yours: it ends `aborted` and nothing is committed."""

    stream_id: StreamId
    ref: Ref | None = None


class Decide(msgspec.Struct, tag="decide", kw_only=True, forbid_unknown_fields=True):
    """Decide the approval request `message_id` (an `action` message asking approval);
    the first decision wins, later ones get `conflict` carrying it."""

    message_id: MessageId
    decision: Decision
    comment: Annotated[str, msgspec.Meta(max_length=MAX_COMMENT_CHARS)] | None = None
    ref: Ref | None = None


class InterruptAgent(msgspec.Struct, tag="interrupt", kw_only=True, forbid_unknown_fields=True):
    """Ask a working agent to stop (agent A and approvers): a system message and an
    `interrupt` event to the session."""

    target: Literal["agent_a", "agent_b"] = "agent_b"
    reason: Annotated[str, msgspec.Meta(max_length=MAX_REASON_CHARS)] = ""
    ref: Ref | None = None


StreamFrame = StreamStart | StreamDelta | StreamEnd | StreamAbort
ClientFrame = (
    SendMessage
    | UpdateNote
    | WriteFile
    | SetPresence
    | Ping
    | StreamFrame
    | Decide
    | InterruptAgent
)

_client_decoder: msgspec.json.Decoder[ClientFrame] = msgspec.json.Decoder(ClientFrame)
_KNOWN_TYPES = frozenset(t.__struct_config__.tag for t in get_args(ClientFrame))


_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def reject_nul(data: str | bytes) -> None:
    """PostgreSQL text and jsonb cannot hold NUL characters: refuse JSON carrying any
    (an escaped `\\u0000` preceded by an even number of backslashes)."""
    if ("\\u0000" if isinstance(data, str) else b"\\u0000") not in data:  # type: ignore[operator]
        return
    if _NUL.search(data.encode() if isinstance(data, str) else data):
        raise HubError("bad_request", "text may not contain NUL (\\u0000) characters")


def decode_client_frame(data: str | bytes) -> ClientFrame:
    """Decode and validate one client frame, raising a `HubError` that says what is wrong."""
    reject_nul(data)
    try:
        return _client_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise _classify(data, exc) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise HubError("bad_request", "frame is not valid JSON") from None
    except RecursionError:
        raise HubError("bad_request", TOO_DEEP) from None


TOO_DEEP = "JSON is nested too deeply"


def _loose(data: str | bytes) -> Any:
    """The frame decoded without a schema, or None if it is not JSON we can read."""
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


def _classify(data: str | bytes, exc: msgspec.ValidationError) -> HubError:
    """Tell an unknown frame type apart from a known frame with bad fields."""
    raw = _loose(data)
    if not isinstance(raw, dict):
        return HubError("bad_request", "a frame is a JSON object with a string `type`")
    kind = raw.get("type")
    if not isinstance(kind, str | None):
        return HubError("unknown_frame", "a frame's `type` must be a string")
    if kind not in _KNOWN_TYPES:
        return HubError("unknown_frame", f"unknown frame type {kind and kind[:64]!r}")
    return HubError("bad_request", str(exc))


def frame_ref(data: str | bytes) -> str | None:
    """Best-effort `ref` of a frame that failed validation, so the error can answer it."""
    raw = _loose(data)
    ref = raw.get("ref") if isinstance(raw, dict) else None
    return ref if isinstance(ref, str) and len(ref) <= 128 else None


# --- server frames ------------------------------------------------------------------


class You(msgspec.Struct, kw_only=True):
    participant_id: str
    role: Role
    display_name: str | None = None
    watch_only: bool = False
    """True for an observer that only watches: it may read and show presence only."""


class Hello(msgspec.Struct, tag="hello", kw_only=True):
    """First frame on every connection. History after `since` follows, then `resumed`."""

    you: You
    session: Session
    last_message_id: int
    heartbeat_interval: float
    max_frame_bytes: int
    """Frames larger than this close the connection with 1009."""
    presence: list[Presence]
    notes: list[NoteSummary]
    """Every note without its content: fetch a note's content when you need it."""
    files: list[FileInfo]


class Resumed(msgspec.Struct, tag="resumed", kw_only=True):
    """Marks the end of the catch-up: everything after this frame is live."""

    last_message_id: int


class MessageEvent(msgspec.Struct, tag="message", kw_only=True):
    message: Message


class NoteEvent(msgspec.Struct, tag="note", kw_only=True):
    note: Note


class FileEvent(msgspec.Struct, tag="file", kw_only=True):
    file: FileEntry


class AttachmentEvent(msgspec.Struct, tag="attachment", kw_only=True):
    """An attachment was uploaded (its bytes: `GET …/attachments/{id}/content`)."""

    attachment: Attachment


class ArtifactEvent(msgspec.Struct, tag="artifact", kw_only=True):
    """An artifact was created or updated (keep the highest `version` of each id)."""

    artifact: Artifact


class PresenceEvent(msgspec.Struct, tag="presence", kw_only=True):
    presence: Presence


class SessionEvent(msgspec.Struct, tag="session", kw_only=True):
    """The session changed (status, name) or was deleted (`deleted` true)."""

    session: Session
    deleted: bool = False


class StreamStartedEvent(msgspec.Struct, tag="stream_started", kw_only=True):
    """A stream opened; `text` is empty when it has just started, and is the text so
    far when sent during a catch-up (`stream.size` characters)."""

    stream: StreamInfo
    text: str = ""


class StreamDeltaEvent(msgspec.Struct, tag="stream_delta", kw_only=True):
    """More text of an open stream: `text` goes at `offset` (characters before it).
    Ephemeral: never stored, no message id. A delta overlapping text you have (after a
    catch-up) carries nothing new before `offset + len(text)` of what you hold."""

    session_id: str
    stream_id: str
    author_id: str
    offset: int
    text: str


class StreamEndedEvent(msgspec.Struct, tag="stream_ended", kw_only=True):
    """A stream ended: committed as message `message_id`, or `aborted` (nothing
    committed) for `reason`."""

    session_id: str
    stream_id: str
    author_id: str
    message_id: int | None = None
    aborted: bool = False
    reason: AbortReason | None = None


class ApprovalEvent(msgspec.Struct, tag="approval", kw_only=True):
    """An approval request was decided (approved, rejected or expired); its system
    message (`approval.decision_message_id`) comes as a `message` frame too."""

    approval: Approval


class InterruptEvent(msgspec.Struct, tag="interrupt", kw_only=True):
    """An agent was asked to stop: `interrupt.target_id` is the agent, `by` who asked,
    `reason` why. `message_id` is the system message recording it."""

    session_id: str
    message_id: int
    interrupt: Interrupt


class JobEvent(msgspec.Struct, tag="job", kw_only=True):
    """A job was created, claimed, put back in the queue, reported progress on,
    finished or refunded (keep the latest `updated_at` of each id)."""

    job: Job


class JobLogEvent(msgspec.Struct, tag="job_log", kw_only=True):
    """Log entries a job's runner appended (`seq` counts from 1 per job, without gaps:
    a gap means read `GET …/jobs/{id}/log?after=`)."""

    session_id: str
    job_id: str
    entries: list[JobLogEntry]


class Ack(msgspec.Struct, tag="ack", kw_only=True, omit_defaults=True):
    """The change answering `ref` is committed. For a message, `duplicate` tells whether
    it was a retry of an earlier send (the original message is returned)."""

    ref: str | None
    message: Message | None = None
    note: Note | None = None
    file: FileInfo | None = None
    presence: Presence | None = None
    stream: StreamInfo | None = None
    approval: Approval | None = None
    duplicate: bool | None = None


class Pong(msgspec.Struct, tag="pong", kw_only=True):
    ref: str | None


class ErrorFrame(msgspec.Struct, tag="error", kw_only=True, omit_defaults=True):
    code: str
    message: str
    ref: str | None = None
    note: Note | None = None
    file: FileInfo | None = None
    approval: Approval | None = None


StreamEvent = StreamStartedEvent | StreamDeltaEvent | StreamEndedEvent
Event = (
    MessageEvent
    | NoteEvent
    | FileEvent
    | AttachmentEvent
    | ArtifactEvent
    | PresenceEvent
    | SessionEvent
    | StreamEvent
    | ApprovalEvent
    | InterruptEvent
    | JobEvent
    | JobLogEvent
)
ServerFrame = Hello | Resumed | Event | Ack | Pong | ErrorFrame

_encoder = msgspec.json.Encoder()


def encode(frame: msgspec.Struct) -> bytes:
    """The one encoder for server frames (and for bus payloads)."""
    return _encoder.encode(frame)


_event_decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)
_server_decoder: msgspec.json.Decoder[ServerFrame] = msgspec.json.Decoder(ServerFrame)


def decode_event(data: bytes | str) -> Event:
    return _event_decoder.decode(data)


SERVER_FRAME_TYPES: frozenset[str] = frozenset(
    str(frame.__struct_config__.tag) for frame in get_args(ServerFrame)
)
"""The server frame types this code knows."""


class _Typed(msgspec.Struct):
    type: str


_typed_decoder = msgspec.json.Decoder(_Typed)


def decode_server_frame(data: bytes | str) -> ServerFrame | None:
    """A server frame; None for a frame of a type this code does not know (a newer
    server's): clients ignore those. A known type that does not decode, or something
    that is no frame at all, raises `msgspec.DecodeError`/`ValidationError`."""
    try:
        return _server_decoder.decode(data)
    except msgspec.ValidationError:
        if frame_type(data) in SERVER_FRAME_TYPES:
            raise
        return None


def frame_type(data: bytes | str) -> str:
    """The `type` of a frame (raises `msgspec.DecodeError`/`ValidationError` for
    something that is not a JSON object with a string `type`)."""
    return _typed_decoder.decode(data).type
