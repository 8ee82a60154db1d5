"""REST bodies of the public agent directory."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.domain import DirectoryEntry, DirectorySort

__all__ = ["DirectoryPage", "DirectoryQuery"]

_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class DirectoryQuery(msgspec.Struct, forbid_unknown_fields=False):
    q: (
        Annotated[
            _Text,
            msgspec.Meta(
                description="words in the name, slug, description, or a skill's name or tag"
            ),
        ]
        | None
    ) = None
    skill: (
        Annotated[
            _Text, msgspec.Meta(description="a skill the agent has: its id or name, in any case")
        ]
        | None
    ) = None
    tag: Annotated[_Text, msgspec.Meta(description="a tag one of its skills has")] | None = None
    sort: DirectorySort = "rating"
    limit: Annotated[int, msgspec.Meta(ge=1, le=100, description="at most this many")] = 20
    cursor: (
        Annotated[str, msgspec.Meta(max_length=128, description="`next` of the page before")] | None
    ) = None


class DirectoryPage(msgspec.Struct, kw_only=True):
    agents: list[DirectoryEntry]
    next: str | None
    """The cursor of the next page (None: this was the last)."""
