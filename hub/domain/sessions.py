"""Sessions: the collaboration itself, its state machine, and the one rule of which
sessions take writes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import msgspec
from nanoid import generate as nanoid

from hub.domain.access import Action, Role, can
from hub.errors import HubError

__all__ = [
    "DEFAULT_IS_PRIVATE",
    "DEFAULT_MODE",
    "WRITABLE_STATUSES",
    "CreatorType",
    "Session",
    "SessionMode",
    "SessionStatus",
    "auto_name",
    "check_session_id",
    "check_transition",
    "new_participant_id",
    "new_session_id",
    "write_refusal",
]

SessionStatus = Literal["waiting", "active", "paused", "completed"]
SessionMode = Literal["async", "realtime"]
CreatorType = Literal["agent", "human"]

DEFAULT_MODE: SessionMode = "async"
"""A new session's mode when neither the request nor its template sets one."""
DEFAULT_IS_PRIVATE = True
"""A new session's privacy when neither the request nor its template sets it."""


class Session(msgspec.Struct, kw_only=True):
    """A collaboration between agent A, agent B (once joined) and observers."""

    id: str
    name: str
    status: SessionStatus
    mode: SessionMode
    is_private: bool
    agent_a_id: str
    agent_b_id: str | None
    invite_expires_at: datetime
    workspace_id: str | None
    metadata: dict[str, Any]
    creator_type: CreatorType
    creator_name: str | None
    last_message_id: int
    created_at: datetime
    updated_at: datetime
    agent_a_verified: bool = False
    """Agent A acted through an agent key: its id is its profile's slug."""
    agent_a_profile: str | None = None
    """Agent A's profile (slug) when verified."""
    agent_a_revision: int | None = None
    """The configuration revision agent A's profile had when it created the session."""
    agent_b_verified: bool = False
    agent_b_profile: str | None = None
    agent_b_revision: int | None = None
    """The configuration revision agent B's profile had when it joined."""
    template_id: str | None = None
    """The template the session was created from (`tpl_…`), if any."""
    template_version: int | None = None
    """The version of that template it was created from."""
    forked_from: str | None = None
    """The session this one was forked from (see `hub.domain.forks`)."""
    forked_at_message_id: int | None = None
    """The message of `forked_from` it was forked at: its history is messages 1..this."""


_TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    "waiting": frozenset({"active", "completed"}),
    "active": frozenset({"paused", "completed"}),
    "paused": frozenset({"active", "completed"}),
    "completed": frozenset(),
}


def check_transition(role: Role, current: SessionStatus, target: SessionStatus) -> None:
    """Raise unless `role` may move a session from `current` to `target`.

    waiting → active ↔ paused → completed; completed is final. Agent B may pause, resume
    and complete; only agent A may start a session nobody has joined yet.
    """
    if target == current:
        return
    if target not in _TRANSITIONS[current]:
        raise HubError("invalid_transition", f"a {current} session cannot become {target}")
    action: Action = (
        "start" if current == "waiting" and target == "active" else ("pause_resume_complete")
    )
    if not can(role, action):
        raise HubError("forbidden", f"{role} may not move a {current} session to {target}")


def auto_name(content: str) -> str:
    """A session name taken from the first chat message: its first line, shortened."""
    line = next((ln.strip() for ln in content.splitlines() if ln.strip()), "")
    line = re.sub(r"\s+", " ", line)
    if not line:
        return "New Session"
    return line if len(line) <= 60 else line[:59].rstrip() + "…"


# --- identifiers, tokens, invite codes ----------------------------------------------


def new_session_id() -> str:
    return "ses_" + str(nanoid(size=21))


_SESSION_ID = re.compile(r"^ses_[A-Za-z0-9_-]{1,64}$")


def check_session_id(session_id: str) -> str:
    """A session id as given by a caller: one that cannot name a session (wrong shape,
    NUL or control characters) is `session_not_found`, like an unknown one."""
    if not _SESSION_ID.match(session_id):
        raise HubError("session_not_found", f"no session {session_id[:64]!r}")
    return session_id


def new_participant_id(prefix: str) -> str:
    return f"{prefix}_{nanoid(size=10)!s}"


WRITABLE_STATUSES: frozenset[SessionStatus] = frozenset({"waiting", "active", "paused"})
"""Sessions in these statuses take writes (unless deleted); see `write_refusal`."""


def write_refusal(session_id: str, status: str | None, deleted: bool) -> HubError | None:
    """The one rule of which sessions take writes (messages, notes, files): not one that
    does not exist (`status` None), was deleted, or is completed. The error to answer,
    or None when the write may go ahead."""
    if status is None:
        return HubError("session_not_found", f"no session {session_id}")
    if deleted:
        return HubError("session_deleted", "the session was deleted")
    if status not in WRITABLE_STATUSES:
        return HubError("session_completed", f"the session is {status} and read-only")
    return None
