"""The SDK's REST client: create a session, join with an invite code, read history,
notes, files, presence and the audit log, change or delete a session; keep one's
secrets in the vault (with a user key)."""

from __future__ import annotations

import os
import secrets
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar, Unpack

import aiohttp
import msgspec

from hub import api
from hub.client.artifacts import ArtifactsAPI
from hub.client.attachments import AttachmentsAPI, AttachmentSource
from hub.client.compute import ComputeAPI
from hub.client.errors import HubClientError
from hub.client.forks import ForksAPI
from hub.client.people import PeopleAPI
from hub.client.search import SearchAPI, SessionFilters, session_filters
from hub.client.spaces import SpacesAPI
from hub.client.templates import TemplatesAPI
from hub.client.webhooks import WebhooksAPI
from hub.domain import (
    Activity,
    FileEntry,
    FileInfo,
    FileVersion,
    Message,
    Note,
    NoteVersion,
    Presence,
    SessionStatus,
)
from hub.domain import Session as DomainSession
from hub.domain.approvals import Approval
from hub.protocol import SendMessage

__all__ = ["HubAPI", "new_client_msg_id", "send_message"]

T = TypeVar("T")


def new_client_msg_id() -> str:
    """A fresh `client_msg_id`: the hub commits one message per id, so a retry is safe."""
    return "sdk-" + secrets.token_hex(12)


def send_message(content: str, *, client_msg_id: str | None = None, **fields: Any) -> SendMessage:
    """The `send` frame (or REST body) for `content`, with a fresh `client_msg_id` unless
    one is given; metadata the hub would refuse raises `HubClientError` `bad_request`."""
    try:
        return SendMessage(
            client_msg_id=client_msg_id or new_client_msg_id(), content=content, **fields
        )
    except ValueError as exc:  # from the metadata check, as the hub would answer
        raise HubClientError("bad_request", str(exc)) from None


def _quote_path(path: str) -> str:
    """A file path for a URL: each segment quoted, the slashes kept."""
    return "/".join(urllib.parse.quote(part, safe="") for part in path.split("/"))


class HubAPI(
    PeopleAPI,
    SpacesAPI,
    TemplatesAPI,
    ForksAPI,
    SearchAPI,
    ComputeAPI,  # before AttachmentsAPI: it uploads a runner's output files with it
    AttachmentsAPI,
    WebhooksAPI,
    ArtifactsAPI,
):
    """The REST API of one hub: sessions (with their tokens), and people's accounts,
    agents and secrets (with user keys) from `PeopleAPI`, their spaces from
    `SpacesAPI`, their session templates from `TemplatesAPI`; forks from `ForksAPI`; the
    public directory and search from `SearchAPI`; attachments from `AttachmentsAPI`;
    artifacts and the gallery from `ArtifactsAPI`."""

    async def create_session(
        self, *, agent_key: str | None = None, **fields: Any
    ) -> api.CreatedSession:
        """Create a session (fields as `api.CreateSession`, `template=…` to start from a
        template); returns the credentials.
        With `agent_key` (`agk_…`), agent A is that key's profile, verified. Fields the
        hub would refuse raise `HubClientError` `bad_request` before sending."""
        try:
            body = msgspec.convert(fields, api.CreateSession)
        except (msgspec.ValidationError, ValueError) as exc:
            raise HubClientError("bad_request", str(exc)) from None
        return await self._typed(
            api.CreatedSession, "POST", "/api/sessions", body=body, token=agent_key
        )

    async def join(
        self,
        invite_code: str,
        *,
        role: str = "agent",
        agent_id: str | None = None,
        display_name: str | None = None,
        agent_key: str | None = None,
    ) -> api.JoinedSession:
        """Redeem an invite as agent B (with `agent_key`, that key's profile, verified)
        or as an observer."""
        body = api.JoinSession(
            invite_code=invite_code,
            role=role,  # type: ignore[arg-type]  # the hub answers a wrong one bad_request
            agent_id=agent_id or None,
            display_name=display_name or None,
        )
        return await self._typed(api.JoinedSession, "POST", "/api/join", body=body, token=agent_key)

    async def history(
        self,
        session_id: str,
        token: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> api.MessagePage:
        return await self._typed(
            api.MessagePage,
            "GET",
            f"/api/sessions/{session_id}/messages",
            token=token,
            params={"after": after, "before": before, "limit": limit},
        )

    async def all_messages(self, session_id: str, token: str) -> AsyncIterator[Message]:
        """Every message of the session, in id order, page by page."""
        after = 0
        while True:
            page = await self.history(session_id, token, after=after, limit=500)
            for message in page.messages:
                yield message
            # a page may hold fewer than `limit` (it is bounded by bytes too)
            if not page.messages or page.messages[-1].id >= page.last_message_id:
                return
            after = page.messages[-1].id

    async def send(
        self,
        session_id: str,
        token: str,
        content: str,
        *,
        attachments: list[AttachmentSource] | None = None,
        **fields: Any,
    ) -> Message:
        """Post a message (fields as the `send` frame's) and return it once committed.
        `attachments`: bytes, local files (`Path`) and `Upload`s are uploaded first, then
        named by id with `Attachment`s already uploaded; a `str` is a session file's path."""
        if attachments:
            paths, ids = await self.upload_sources(session_id, token, attachments)
            fields = {**fields, "attachments": paths, "attachment_ids": ids}
        sent = await self._typed(
            api.SentMessage,
            "POST",
            f"/api/sessions/{session_id}/messages",
            token=token,
            body=send_message(content, **fields),
        )
        return sent.message

    async def approvals(
        self, session_id: str, token: str, *, pending_only: bool = True
    ) -> list[Approval]:
        """The session's approval requests (the undecided ones unless `pending_only` is
        False), in message id order."""
        found = await self._typed(
            api.ApprovalList,
            "GET",
            f"/api/sessions/{session_id}/approvals",
            token=token,
            params={"status": "pending" if pending_only else "all"},
        )
        return found.approvals

    async def approval(self, session_id: str, token: str, message_id: int) -> Approval:
        """One approval request and its decision (`expired` once its time is up)."""
        return await self._typed(
            Approval, "GET", f"/api/sessions/{session_id}/approvals/{message_id}", token=token
        )

    async def session(self, session_id: str, token: str) -> DomainSession:
        """The session: name, status, participants, last message id."""
        return await self._typed(DomainSession, "GET", f"/api/sessions/{session_id}", token=token)

    async def update_session(
        self,
        session_id: str,
        token: str,
        *,
        status: SessionStatus | None = None,
        name: str | None = None,
    ) -> DomainSession:
        """Change the status (`active` starts or resumes, `paused`, `completed`) and/or
        the name; `HubClientError` `invalid_transition` if the status cannot change so."""
        body = api.UpdateSession(status=status, name=name)
        return await self._typed(
            DomainSession, "PATCH", f"/api/sessions/{session_id}", token=token, body=body
        )

    async def delete_session(self, session_id: str, token: str) -> None:
        """Soft-delete the session (agent A); live connections close with 4004."""
        await self.request("DELETE", f"/api/sessions/{session_id}", token=token)

    async def invite(self, session_id: str, token: str) -> api.InviteInfo:
        """The session's current invite code (agent A)."""
        path = f"/api/sessions/{session_id}/invite"
        return await self._typed(api.InviteInfo, "GET", path, token=token)

    async def rotate_invite(self, session_id: str, token: str) -> api.InviteInfo:
        """Replace the invite code (agent A); the old one opens nothing any more."""
        path = f"/api/sessions/{session_id}/invite"
        return await self._typed(api.InviteInfo, "POST", path, token=token)

    async def my_sessions(
        self,
        user_key: str,
        **filters: Unpack[SessionFilters],
    ) -> api.SessionPage:
        """A page of the sessions one's verified agents created or joined, newest first
        (a user key, `usr_…`); pass `.next` as `cursor` for the next page."""
        return await self._typed(
            api.SessionPage,
            "GET",
            "/api/me/sessions",
            token=user_key,
            params=session_filters(filters),
        )

    async def watch_session(
        self, user_key: str | None, session_id: str, *, display_name: str | None = None
    ) -> api.JoinedSession:
        """An observer token of one's own, with no invite code, for a session one of
        one's agents was agent A or B of or of one's spaces (a user key), or for any
        public session (`user_key` None: a watch-only token); `HubClientError`
        `session_not_found` otherwise."""
        return await self._typed(
            api.JoinedSession,
            "POST",
            f"/api/sessions/{urllib.parse.quote(session_id, safe='')}/watch",
            token=user_key,
            body=api.WatchSession(display_name=display_name),
        )

    async def notes(self, session_id: str, token: str) -> list[Note]:
        """Every note of the session, with its content."""
        path = f"/api/sessions/{session_id}/notes"
        return (await self._typed(api.NoteList, "GET", path, token=token)).notes

    async def note(self, session_id: str, token: str, note_id: int) -> Note:
        """One note with its content (`HubClientError` `not_found` if there is none)."""
        path = f"/api/sessions/{session_id}/notes/{note_id}"
        return await self._typed(Note, "GET", path, token=token)

    async def files(self, session_id: str, token: str) -> list[FileInfo]:
        """Every file of the session, without content."""
        path = f"/api/sessions/{session_id}/files"
        return (await self._typed(api.FileList, "GET", path, token=token)).files

    async def read_file(self, session_id: str, token: str, path: str) -> FileEntry:
        """One file with its content (`HubClientError` `not_found` if there is none)."""
        url = f"/api/sessions/{session_id}/files/{_quote_path(path)}"
        return await self._typed(FileEntry, "GET", url, token=token)

    async def note_versions(
        self,
        session_id: str,
        token: str,
        note_id: int,
        *,
        before: int | None = None,
        limit: int = 50,
    ) -> api.NoteVersionPage:
        """A note's versions below `before`, newest first, without content; page on with
        `next_before` (`HubClientError` `not_found` if there is no such note)."""
        return await self._typed(
            api.NoteVersionPage,
            "GET",
            f"/api/sessions/{session_id}/notes/{note_id}/versions",
            token=token,
            params={"before": before, "limit": limit},
        )

    async def note_version(
        self, session_id: str, token: str, note_id: int, version: int
    ) -> NoteVersion:
        """One version of a note, with its content."""
        path = f"/api/sessions/{session_id}/notes/{note_id}/versions/{version}"
        return await self._typed(NoteVersion, "GET", path, token=token)

    async def note_diff(
        self, session_id: str, token: str, note_id: int, old: int, new: int
    ) -> api.NoteDiff:
        """What changed from version `old` to version `new` of a note."""
        return await self._typed(
            api.NoteDiff,
            "GET",
            f"/api/sessions/{session_id}/notes/{note_id}/diff",
            token=token,
            params={"from": old, "to": new},
        )

    async def file_versions(
        self,
        session_id: str,
        token: str,
        path: str,
        *,
        before: int | None = None,
        limit: int = 50,
    ) -> api.FileVersionPage:
        """A file's versions below `before`, newest first, without content; page on with
        `next_before` (`HubClientError` `not_found` if there is no such file)."""
        return await self._typed(
            api.FileVersionPage,
            "GET",
            f"/api/sessions/{session_id}/file-versions/{_quote_path(path)}",
            token=token,
            params={"before": before, "limit": limit},
        )

    async def file_version(
        self, session_id: str, token: str, path: str, version: int
    ) -> FileVersion:
        """One version of a file, with its content."""
        url = f"/api/sessions/{session_id}/file-version/{version}/{_quote_path(path)}"
        return await self._typed(FileVersion, "GET", url, token=token)

    async def file_diff(
        self, session_id: str, token: str, path: str, old: int, new: int
    ) -> api.FileDiff:
        """What changed from version `old` to version `new` of a file."""
        return await self._typed(
            api.FileDiff,
            "GET",
            f"/api/sessions/{session_id}/file-diff/{_quote_path(path)}",
            token=token,
            params={"from": old, "to": new},
        )

    async def presence(self, session_id: str, token: str) -> list[Presence]:
        """Who is online, working, idle or offline."""
        path = f"/api/sessions/{session_id}/presence"
        return (await self._typed(api.PresenceList, "GET", path, token=token)).presence

    async def activity(
        self, session_id: str, token: str, *, after: int = 0, limit: int = 100
    ) -> list[Activity]:
        """The audit log after the row id `after`: one row per change."""
        page = await self._typed(
            api.ActivityPage,
            "GET",
            f"/api/sessions/{session_id}/activity",
            token=token,
            params={"after": after, "limit": limit},
        )
        return page.activity

    def export_stream(
        self, session_id: str, token: str, format: str = "json", *, idle: float = 30.0
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        """The export's response, to read as it arrives (`RestClient.stream`): `idle`
        bounds each wait for more of it, not the whole transfer."""
        return self.stream(
            f"/api/sessions/{urllib.parse.quote(session_id, safe='')}/export",
            token=token,
            params={"format": format},
            idle=idle,
        )

    async def export(
        self, session_id: str, token: str, format: str = "json", *, idle: float = 30.0
    ) -> bytes:
        """The session exported (`json`: everything, as `api.SessionExport`; `markdown`:
        a transcript), whole, in memory; for a large session prefer `export_to`.
        `HubClientError` `unavailable` if the export was cut short."""
        parts: list[bytes] = []
        async with self.export_stream(session_id, token, format, idle=idle) as response:
            async for chunk in response.content.iter_any():
                parts.append(chunk)
        return b"".join(parts)

    async def export_to(
        self,
        path: str | os.PathLike[str],
        session_id: str,
        token: str,
        format: str = "json",
        *,
        idle: float = 30.0,
    ) -> int:
        """Stream the session's export into the file at `path` as it arrives (bounded
        memory); returns the bytes written. The file appears only once the export is
        whole: one cut short raises `HubClientError` `unavailable` and leaves no file."""
        target = Path(path)
        partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        written = 0
        try:
            with partial.open("wb") as out:
                async with self.export_stream(session_id, token, format, idle=idle) as response:
                    async for chunk in response.content.iter_chunked(1 << 16):
                        out.write(chunk)
                        written += len(chunk)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return written
