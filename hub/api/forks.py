"""REST bodies of forks: fork a session at a message, and list a session's forks."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.api.sessions import Name
from hub.domain import Fork
from hub.domain.cursors import encode_time_cursor

__all__ = ["ForkPage", "ForkSession", "ForksQuery"]


class ForkSession(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    at_message_id: Annotated[int, msgspec.Meta(ge=0, le=2**62)] | None = None
    """The fork's history is messages 1..this of the session (0: none); unset: up to its
    last message."""
    name: Name | None = None
    """Unset: the session's name."""
    invite_ttl_seconds: Annotated[int, msgspec.Meta(ge=60, le=90 * 24 * 3600)] | None = None


class ForksQuery(msgspec.Struct, forbid_unknown_fields=False):
    limit: Annotated[int, msgspec.Meta(ge=1, le=100, description="at most this many")] = 20
    cursor: (
        Annotated[str, msgspec.Meta(max_length=128, description="`next` of the page before")] | None
    ) = None


class ForkPage(msgspec.Struct, kw_only=True):
    forks: list[Fork]
    """Newest first."""
    next: str | None
    """The cursor of the next page (None: this was the last)."""

    @classmethod
    def of(cls, page: list[Fork], limit: int) -> ForkPage:
        last = page[-1] if len(page) == limit else None
        return cls(forks=page, next=encode_time_cursor(last.created_at, last.id) if last else None)
