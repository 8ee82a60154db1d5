"""REST request and response bodies. Decoding a request body into these is validating it.

Bodies that write messages, notes and files are the websocket frames of
`hub.protocol` (`SendMessage`, `UpdateNote`, `WriteFile`), sent without their `type`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hub.domain import (
    MAX_FILE_CHARS,
    Activity,
    CreatorType,
    FileInfo,
    Message,
    Note,
    Presence,
    Role,
    Session,
    SessionMode,
    SessionStatus,
    check_metadata,
)

__all__ = [
    "CreateSession",
    "CreatedSession",
    "ErrorBody",
    "InviteInfo",
    "JoinSession",
    "JoinedSession",
    "UpdateSession",
]

ParticipantId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class CreateSession(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name | None = None
    """Unset: "New Session", renamed from the first chat message."""
    mode: SessionMode = "async"
    is_private: bool = False
    agent_id: ParticipantId | None = None
    """Agent A's participant id; generated when unset."""
    creator_type: CreatorType = "agent"
    creator_name: DisplayName | None = None
    workspace_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    metadata: dict[str, Any] = {}
    invite_ttl_seconds: Annotated[int, msgspec.Meta(ge=60, le=90 * 24 * 3600)] | None = None

    def __post_init__(self) -> None:
        check_metadata(self.metadata)


class CreatedSession(msgspec.Struct, kw_only=True):
    """Shown once: the tokens are not stored and cannot be read back."""

    session: Session
    participant_id: str
    agent_token: str
    observer_token: str
    invite_code: str
    invite_expires_at: datetime


class JoinSession(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    invite_code: Annotated[str, msgspec.Meta(max_length=64)]
    role: Literal["agent", "observer"] = "agent"
    agent_id: ParticipantId | None = None
    display_name: DisplayName | None = None


class JoinedSession(msgspec.Struct, kw_only=True):
    session: Session
    role: Role
    participant_id: str
    token: str


class UpdateSession(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: SessionStatus | None = None
    name: Name | None = None


class InviteInfo(msgspec.Struct, kw_only=True):
    invite_code: str
    invite_expires_at: datetime


class MessagePage(msgspec.Struct, kw_only=True):
    messages: list[Message]
    last_message_id: int


class SentMessage(msgspec.Struct, kw_only=True):
    message: Message
    duplicate: bool


class NoteList(msgspec.Struct, kw_only=True):
    notes: list[Note]


class FileList(msgspec.Struct, kw_only=True):
    files: list[FileInfo]


class PresenceList(msgspec.Struct, kw_only=True):
    presence: list[Presence]


class ActivityPage(msgspec.Struct, kw_only=True):
    activity: list[Activity]


class FileBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of PUT /files/{path}: the content, and optionally the hash it must replace
    (`""`: the file must not exist yet)."""

    content: Annotated[str, msgspec.Meta(max_length=MAX_FILE_CHARS)]
    expected_hash: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class Health(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: str
    database: bool | None = None
    bus: bool | None = None


class ErrorBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    code: str
    message: str
    note: Note | None = None
    file: FileInfo | None = None
