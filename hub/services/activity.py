"""The activity log, as read by the session's participants."""

from __future__ import annotations

from hub import api
from hub.domain import Principal
from hub.store import Store
from hub.store import activity as activity_store

__all__ = ["ActivityLog"]


class ActivityLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def list(self, principal: Principal, after: int, limit: int) -> api.ActivityPage:
        async with self._store.connection() as conn:
            rows = await activity_store.list_activity(conn, principal.session_id, after, limit)
        return api.ActivityPage(activity=rows)
