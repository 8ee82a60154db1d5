"""REST bodies of spaces: the space, its members, its sessions, and moving a session."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.api.sessions import SessionListQuery
from hub.domain import Slug, Space, SpaceMember, SpaceRole
from hub.domain.profiles import Description, ProfileName
from hub.domain.spaces import SPACE_REF_PATTERN

__all__ = [
    "MemberList",
    "MemberRole",
    "MoveSession",
    "NewSpace",
    "SpaceList",
    "SpaceSessionsQuery",
    "SpaceUpdate",
]


class NewSpace(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    slug: Slug
    """How the space is named in addresses; it may not start with `spc_`."""
    name: ProfileName
    description: Description = ""

    def __post_init__(self) -> None:
        if self.slug.lower().startswith("spc_"):
            raise ValueError("a space's slug may not start with 'spc_' (ids do)")


class SpaceUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What to change (owners); unset fields stay."""

    name: ProfileName | None = None
    description: Description | None = None
    archived: bool | None = None
    """True archives the space (no new sessions in it; its sessions stay readable);
    False takes it out of the archive."""


class SpaceList(msgspec.Struct, kw_only=True):
    spaces: list[Space]


class MemberRole(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: SpaceRole


class MemberList(msgspec.Struct, kw_only=True):
    members: list[SpaceMember]


class SpaceSessionsQuery(SessionListQuery):
    pass


class MoveSession(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    space: Annotated[str, msgspec.Meta(pattern=SPACE_REF_PATTERN)] | None
    """The target space's slug or id; null takes the session out of its space."""
