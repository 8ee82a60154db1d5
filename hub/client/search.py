"""The REST API of finding sessions: the public directory, a verified agent's sessions
and full-text search (no key needed for what is public; `mine` and `space` searches take
a user key)."""

from __future__ import annotations

import urllib.parse
from datetime import datetime
from typing import Any

from hub import api
from hub.client.transport import RestClient
from hub.domain import SearchScope, SessionMode, SessionStatus

__all__ = ["SearchAPI", "session_filters"]


def session_filters(
    status: SessionStatus | None,
    mode: SessionMode | None,
    agent: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """The query of a list of sessions: each filter given narrows it (times need a time
    zone; `created_after` is inclusive, `created_before` exclusive)."""
    return {
        "status": status,
        "mode": mode,
        "agent": agent,
        "created_after": None if created_after is None else created_after.isoformat(),
        "created_before": None if created_before is None else created_before.isoformat(),
        "limit": limit,
        "cursor": cursor,
    }


class SearchAPI(RestClient):
    async def session_directory(
        self,
        *,
        status: SessionStatus | None = None,
        mode: SessionMode | None = None,
        agent: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> api.SessionPage:
        """A page of the public directory (sessions not private), newest first; `.next`
        is the next cursor. Times need a time zone."""
        params = session_filters(status, mode, agent, created_after, created_before, limit, cursor)
        return await self._typed(api.SessionPage, "GET", "/api/sessions", params=params)

    async def agent_sessions(
        self,
        slug: str,
        *,
        user_key: str | None = None,
        status: SessionStatus | None = None,
        mode: SessionMode | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> api.SessionPage:
        """A public verified agent's public sessions, newest first; with its owner's
        `user_key`, all of them."""
        params = session_filters(status, mode, None, created_after, created_before, limit, cursor)
        path = f"/api/agents/{urllib.parse.quote(slug, safe='')}/sessions"
        return await self._typed(api.SessionPage, "GET", path, token=user_key, params=params)

    async def search(
        self,
        q: str,
        *,
        scope: SearchScope = "public",
        space: str | None = None,
        user_key: str | None = None,
        status: SessionStatus | None = None,
        mode: SessionMode | None = None,
        agent: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> api.SearchPage:
        """Sessions whose name or messages match `q`, best first, each with its name and
        best messages as segments (`.text`, `.hit`). `scope`: "public" (no key), "mine"
        or "space" (with `space`, a slug or id; a member) with a `user_key`."""
        params = {
            "q": q,
            "scope": scope,
            "space": space,
            **session_filters(status, mode, agent, created_after, created_before, limit, cursor),
        }
        return await self._typed(
            api.SearchPage, "GET", "/api/search", token=user_key, params=params
        )
