"""REST bodies of sessions: create, join (redeem an invite), change, and the invite."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hub.domain import (
    CreatorType,
    Role,
    Session,
    SessionFilter,
    SessionMode,
    SessionStatus,
    Slug,
    check_metadata,
)
from hub.domain.approvals import ApprovalPolicy, check_policy
from hub.domain.cursors import encode_time_cursor
from hub.domain.search import check_time
from hub.domain.spaces import SPACE_REF_PATTERN
from hub.domain.templates import TEMPLATE_REF_PATTERN

ParticipantId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class CreateSession(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name | None = None
    """Unset: "New Session", renamed from the first chat message."""
    mode: SessionMode | None = None
    """Unset: the template's, else "async"."""
    is_private: bool | None = None
    """Unset: the template's, else true (unlisted). False: listed in the public
    directory, found by anyone's search, and watchable by anyone (watch-only)."""
    agent_id: ParticipantId | None = None
    """Agent A's participant id; generated when unset."""
    creator_type: CreatorType = "agent"
    creator_name: DisplayName | None = None
    workspace_id: Annotated[str, msgspec.Meta(pattern=SPACE_REF_PATTERN)] | None = None
    """The space (its slug or `spc_` id) the session goes in: only with an agent key
    whose owner is an owner or member of the space."""
    metadata: dict[str, Any] = {}
    """With a template: merged into the template's, these keys replacing its own."""
    invite_ttl_seconds: Annotated[int, msgspec.Meta(ge=60, le=90 * 24 * 3600)] | None = None
    template: Annotated[str, msgspec.Meta(pattern=TEMPLATE_REF_PATTERN)] | None = None
    """Start from this template (`tpl_…`, `USERNAME/SLUG` or `space:SPACE/SLUG`): its
    seed notes, files and opening message are written with the session."""
    template_version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None
    """That template's version (unset: its current one)."""

    def __post_init__(self) -> None:
        check_metadata(self.metadata)
        check_policy(self.metadata)
        if self.template_version is not None and self.template is None:
            raise ValueError("template_version needs a template")


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
    watch_only: bool = False
    """True: the token reads and shows presence only (a space's viewer watching)."""


class UpdateSession(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: SessionStatus | None = None
    name: Name | None = None
    is_private: bool | None = None
    """Agent A only. Making a session private revokes the watch tokens anyone took
    because it was public (their connections close)."""
    approval_policy: ApprovalPolicy | None = None
    """Agent A only: who decides approval requests from now on (kept in the session's
    `metadata.approval_policy`; observers are named by their participant ids)."""


class InviteInfo(msgspec.Struct, kw_only=True):
    invite_code: str
    invite_expires_at: datetime


_Time = Annotated[
    datetime,
    msgspec.Meta(tz=True, description="ISO 8601 with a time zone, e.g. 2026-01-31T00:00:00Z"),
]


class SessionListQuery(msgspec.Struct, forbid_unknown_fields=False):
    """The filters and page of a list of sessions (each set filter narrows it)."""

    status: SessionStatus | None = None
    mode: SessionMode | None = None
    agent: Annotated[Slug, msgspec.Meta(description="a verified agent profile's slug")] | None = (
        None
    )
    created_after: Annotated[_Time, msgspec.Meta(description="created at or after")] | None = None
    created_before: Annotated[_Time, msgspec.Meta(description="created before")] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100, description="at most this many")] = 20
    cursor: (
        Annotated[str, msgspec.Meta(max_length=128, description="`next` of the page before")] | None
    ) = None

    def __post_init__(self) -> None:
        for at in (self.created_after, self.created_before):
            if at is not None:
                check_time(at)

    def filters(self) -> SessionFilter:
        return SessionFilter(
            status=self.status,
            mode=self.mode,
            agent=self.agent,
            created_after=self.created_after,
            created_before=self.created_before,
        )


class MySessionsQuery(SessionListQuery):
    pass


class PublicSessionsQuery(SessionListQuery):
    pass


class SessionPage(msgspec.Struct, kw_only=True):
    sessions: list[Session]
    """Newest first."""
    next: str | None
    """The cursor of the next page (None: this was the last)."""

    @classmethod
    def of(cls, page: list[Session], limit: int) -> SessionPage:
        """The page as answered: `next` is the cursor after its last session when the
        page is full (there may be more)."""
        last = page[-1] if len(page) == limit else None
        return cls(
            sessions=page,
            next=encode_time_cursor(last.created_at, last.id) if last else None,
        )


class WatchSession(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    display_name: DisplayName | None = None
    """The name observers are shown (default: your account's display name)."""
