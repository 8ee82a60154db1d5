"""REST bodies of full-text search over sessions."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.api.sessions import SessionListQuery
from hub.domain import SearchHit, SearchScope
from hub.domain.spaces import SPACE_REF_PATTERN

__all__ = ["SearchPage", "SearchQuery"]


class SearchQuery(SessionListQuery):
    q: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=1000,
                description="words to find in names and messages (web search syntax:"
                ' "a phrase", or, -word); at most 200 characters once trimmed',
            ),
        ]
        | None
    ) = None
    scope: SearchScope = "public"
    space: (
        Annotated[
            str,
            msgspec.Meta(pattern=SPACE_REF_PATTERN, description="scope=space: its slug or id"),
        ]
        | None
    ) = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=50, description="at most this many")] = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.scope == "space") != (self.space is not None):
            raise ValueError("give `space` with scope=space, and only then")


class SearchPage(msgspec.Struct, kw_only=True):
    results: list[SearchHit]
    """Best first."""
    next: str | None
    """The cursor of the next page (None: this was the last)."""
    capped: bool = False
    """True: more messages matched than one search ranks (10 000; the first found were
    ranked): add words to find what you mean."""
