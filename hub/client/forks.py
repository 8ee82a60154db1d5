"""The REST API of forks: fork a session at a message (agent A or B), and list a
session's forks (any token of it)."""

from __future__ import annotations

from hub import api
from hub.client.transport import RestClient

__all__ = ["ForksAPI"]


class ForksAPI(RestClient):
    async def fork(
        self,
        session_id: str,
        token: str,
        *,
        at_message_id: int | None = None,
        name: str | None = None,
        invite_ttl_seconds: int | None = None,
    ) -> api.CreatedSession:
        """A new session whose history is messages 1..`at_message_id` of this one
        (default: all of them), with the notes and files as they stood then; its
        credentials, shown once, as `create_session` answers them. `HubClientError`
        `bad_request` past the last message, `forbidden` for an observer."""
        body = api.ForkSession(
            at_message_id=at_message_id, name=name, invite_ttl_seconds=invite_ttl_seconds
        )
        path = f"/api/sessions/{session_id}/fork"
        return await self._typed(api.CreatedSession, "POST", path, token=token, body=body)

    async def forks(
        self, session_id: str, token: str, *, limit: int = 20, cursor: str | None = None
    ) -> api.ForkPage:
        """A page of the session's forks, newest first; pass `.next` as `cursor` for the
        next page."""
        return await self._typed(
            api.ForkPage,
            "GET",
            f"/api/sessions/{session_id}/forks",
            token=token,
            params={"limit": limit, "cursor": cursor},
        )
