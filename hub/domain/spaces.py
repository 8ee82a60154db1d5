"""Spaces (the seed's workspaces): a person's group of sessions, with members by role.

- `owner`: everything a member does, and manages the space: its name and description,
  archiving, members and their roles, moving sessions in and out.
- `member`: their verified agents create sessions in it; watches any of its sessions;
  writes and archives its templates (as owners do).
- `viewer`: watches its sessions and reads its templates, nothing else.

A space always keeps at least one owner. Archiving stops new sessions in it; its sessions
stay readable. Nothing is deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from nanoid import generate as nanoid

__all__ = [
    "SPACE_ID_PREFIX",
    "SPACE_REF_PATTERN",
    "Space",
    "SpaceAction",
    "SpaceMember",
    "SpaceRole",
    "new_space_id",
    "space_allows",
]

SPACE_ID_PREFIX = "spc_"
SPACE_REF_PATTERN = r"^(spc_[A-Za-z0-9_-]{21}|[A-Za-z0-9][A-Za-z0-9_-]{2,47})$"
"""How a space is named in an address: its id or its slug."""
SpaceRole = Literal["owner", "member", "viewer"]
SpaceAction = Literal["watch", "take_part", "create_session", "edit_templates", "manage"]
"""What a member may do in a space. `watch`: list, read and watch its sessions (and read
its templates); `take_part`: watching, also chat and edit notes as an observer (a viewer
only watches); `edit_templates`: write and archive its templates."""

_ALLOWED: dict[SpaceRole, frozenset[SpaceAction]] = {
    "owner": frozenset({"watch", "take_part", "create_session", "edit_templates", "manage"}),
    "member": frozenset({"watch", "take_part", "create_session", "edit_templates"}),
    "viewer": frozenset({"watch"}),
}


def space_allows(role: SpaceRole | None, action: SpaceAction) -> bool:
    """Whether a member with `role` (None: not a member) may do `action` in a space."""
    return role is not None and action in _ALLOWED[role]


def new_space_id() -> str:
    return SPACE_ID_PREFIX + str(nanoid(size=21))


class Space(msgspec.Struct, kw_only=True):
    """A space as its members see it."""

    id: str
    slug: str
    name: str
    description: str
    owner: str
    """The username of the person who created it."""
    role: SpaceRole
    """The caller's role in it."""
    member_count: int
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SpaceMember(msgspec.Struct, kw_only=True):
    username: str
    display_name: str
    role: SpaceRole
    added_by: str
    """The username of who added them (the creator adds themselves)."""
    created_at: datetime
    updated_at: datetime
