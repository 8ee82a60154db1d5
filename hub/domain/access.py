"""Who may do what: roles, the principal a token speaks for, and the capability table
of SPEC.md."""

from __future__ import annotations

from typing import Literal

import msgspec

from hub.errors import HubError

__all__ = ["Action", "AuthorRole", "Principal", "Role", "can", "require"]

Role = Literal["agent_a", "agent_b", "observer"]
AuthorRole = Literal["agent_a", "agent_b", "observer", "system"]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who a capability token speaks for: one role in one session."""

    session_id: str
    role: Role
    participant_id: str
    display_name: str | None = None
    watch_only: bool = False
    """An observer who only watches (a space's viewer, a public session's passer-by):
    reads and shows presence, nothing else."""


# --- capabilities -------------------------------------------------------------------

Action = Literal[
    "read",
    "post_chat",
    "post_typed",
    "edit_notes",
    "write_files",
    "upload_attachments",
    "write_artifacts",
    "set_presence",
    "rename",
    "pause_resume_complete",
    "start",
    "rotate_invite",
    "delete_session",
    "fork",
    "manage_webhooks",
    "set_privacy",
    "set_approval_policy",
    "stream",
    "run_jobs",
    "set_pool",
]

_OBSERVER: frozenset[Action] = frozenset({"read", "post_chat", "edit_notes", "set_presence"})
_AGENT_B: frozenset[Action] = _OBSERVER | {
    "post_typed",
    "write_files",
    "upload_attachments",
    "write_artifacts",
    "rename",
    "pause_resume_complete",
    "fork",
    "stream",
    "run_jobs",
}
_AGENT_A: frozenset[Action] = _AGENT_B | {
    "start",
    "rotate_invite",
    "delete_session",
    "manage_webhooks",
    "set_privacy",
    "set_approval_policy",
    "set_pool",
}
_CAPABILITIES: dict[Role, frozenset[Action]] = {
    "agent_a": _AGENT_A,
    "agent_b": _AGENT_B,
    "observer": _OBSERVER,
}


def can(role: Role, action: Action) -> bool:
    """Whether `role` may perform `action` (the capability table of SPEC.md)."""
    return action in _CAPABILITIES[role]


_WATCHING: frozenset[Action] = frozenset({"read", "set_presence"})


def require(principal: Principal, action: Action) -> None:
    """Raise `forbidden` unless the principal's role may perform `action` (and, for a
    watch-only token, unless it is reading or showing presence)."""
    if principal.watch_only and action not in _WATCHING:
        raise HubError(
            "forbidden", f"this token only watches: it may not {action.replace('_', ' ')}"
        )
    if not can(principal.role, action):
        raise HubError("forbidden", f"{principal.role} may not {action.replace('_', ' ')}")
