"""The REST API of finding sessions: the public directory, a verified agent's sessions
and full-text search (no key needed for what is public; `mine` and `space` searches take
a user key)."""

from __future__ import annotations

import urllib.parse
from datetime import datetime
from typing import Any, TypedDict, Unpack

from hub import api
from hub.client.transport import RestClient
from hub.domain import SearchScope, SessionMode, SessionStatus

__all__ = ["SearchAPI", "SessionFilters", "session_filters"]


class SessionFilters(TypedDict, total=False):
    """The filters of a list of sessions, each given narrowing it (times need a time
    zone; `created_after` is inclusive, `created_before` exclusive), and the page."""

    status: SessionStatus | None
    mode: SessionMode | None
    agent: str | None
    created_after: datetime | None
    created_before: datetime | None
    limit: int
    cursor: str | None


def session_filters(filters: SessionFilters) -> dict[str, Any]:
    """The query of a list of sessions (20 a page unless `limit` says otherwise)."""
    unknown = set(filters) - set(SessionFilters.__annotations__)
    if unknown:
        raise TypeError(f"unknown session filters: {', '.join(sorted(unknown))}")
    query: dict[str, Any] = {"limit": 20, **filters}
    for name in ("created_after", "created_before"):
        if isinstance(when := query.get(name), datetime):
            query[name] = when.isoformat()
    return query


class SearchAPI(RestClient):
    async def session_directory(self, **filters: Unpack[SessionFilters]) -> api.SessionPage:
        """A page of the public directory (sessions not private), newest first; `.next`
        is the next cursor. Times need a time zone."""
        params = session_filters(filters)
        return await self._typed(api.SessionPage, "GET", "/api/sessions", params=params)

    async def agent_sessions(
        self, slug: str, *, user_key: str | None = None, **filters: Unpack[SessionFilters]
    ) -> api.SessionPage:
        """A public verified agent's public sessions, newest first; with its owner's
        `user_key`, all of them."""
        params = session_filters(filters)
        path = f"/api/agents/{urllib.parse.quote(slug, safe='')}/sessions"
        return await self._typed(api.SessionPage, "GET", path, token=user_key, params=params)

    async def search(
        self,
        q: str,
        *,
        scope: SearchScope = "public",
        space: str | None = None,
        user_key: str | None = None,
        **filters: Unpack[SessionFilters],
    ) -> api.SearchPage:
        """Sessions whose name or messages match `q`, best first, each with its name and
        best messages as segments (`.text`, `.hit`). `scope`: "public" (no key), "mine"
        or "space" (with `space`, a slug or id; a member) with a `user_key`."""
        params = {
            "q": q,
            "scope": scope,
            "space": space,
            **session_filters(filters),
        }
        return await self._typed(
            api.SearchPage, "GET", "/api/search", token=user_key, params=params
        )
