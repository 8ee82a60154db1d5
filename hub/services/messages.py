"""Messages: queued for the group commit (acked only once committed, then published in
commit order), and read back in id order."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from hub import api
from hub.config import Config
from hub.domain import Message, MsgType, Principal, message_action, require, validate_path
from hub.domain.approvals import check_message_metadata
from hub.domain.attachments import unique_ids
from hub.errors import HubError
from hub.metrics import Metrics
from hub.protocol import SendMessage, SessionEvent
from hub.services.events import Events
from hub.store import Store
from hub.store import messages as message_store
from hub.store import sessions as session_store
from hub.store.writer import GroupCommitter

__all__ = ["PAGE_BYTES", "Messages"]

PAGE_BYTES = 1_048_576
"""A history page (REST, or a websocket catch-up read) stops after this many bytes of
message content and metadata, whatever its `limit`."""


class Messages:
    def __init__(
        self, config: Config, store: Store, events: Events, *, metrics: Metrics | None = None
    ) -> None:
        self._store = store
        self._events = events
        self.committer = GroupCommitter(
            store, self._publish_committed, max_batch=config.commit_batch_max, metrics=metrics
        )

    def start(self) -> None:
        self.committer.start()

    async def close(self) -> None:
        await self.committer.close()

    def send(
        self, principal: Principal, frame: SendMessage
    ) -> asyncio.Future[tuple[Message, bool]]:
        """Queue a message sent as a `SendMessage` (the same body over REST and the
        websocket, and with an artifact)."""
        return self.enqueue(
            principal,
            content=frame.content,
            msg_type=frame.msg_type,
            metadata=frame.metadata,
            parent_id=frame.parent_id,
            client_msg_id=frame.client_msg_id,
            token_count=frame.token_count,
            attachments=frame.attachments,
            attachment_ids=frame.attachment_ids,
        )

    def enqueue(
        self,
        principal: Principal,
        *,
        content: str,
        msg_type: MsgType = "chat",
        metadata: dict[str, Any] | None = None,
        parent_id: int | None = None,
        client_msg_id: str | None = None,
        token_count: int | None = None,
        attachments: list[str] | None = None,
        attachment_ids: list[str] | None = None,
    ) -> asyncio.Future[tuple[Message, bool]]:
        """Check and queue a message for the next group commit, without waiting: the
        future resolves to (message, was it a retry) once it is committed, or to the
        error that refused it. Raises at once if the principal may not post it. Each
        attachment id must name an upload of the session (checked in the commit's own
        statement); one named twice counts once."""
        if msg_type == "system":
            raise HubError("forbidden", "system messages are written by the hub only")
        require(principal, message_action(msg_type))
        for path in attachments or ():
            validate_path(path)
        if metadata and msg_type in ("action", "status"):
            metadata = check_message_metadata(msg_type, metadata)
        return self.committer.enqueue(
            message_store.NewMessage(
                session_id=principal.session_id,
                author_id=principal.participant_id,
                author_role=principal.role,
                content=content,
                msg_type=msg_type,
                metadata=metadata or {},
                parent_id=parent_id,
                client_msg_id=client_msg_id,
                token_count=token_count,
                attachments=attachments or [],
                attachment_ids=unique_ids(attachment_ids) if attachment_ids else msgspec.UNSET,
            )
        )

    async def history(
        self, principal: Principal, *, after: int | None, before: int | None, limit: int
    ) -> api.MessagePage:
        async with self._store.connection() as conn:
            session = await session_store.get_session(conn, principal.session_id)
            messages = await message_store.list_messages(
                conn,
                principal.session_id,
                after=after,
                before=before,
                limit=limit,
                max_bytes=PAGE_BYTES,
            )
        return api.MessagePage(messages=messages, last_message_id=session.last_message_id)

    async def fetch_after(
        self, session_id: str, after: int, limit: int, max_bytes: int | None = None
    ) -> list[Message]:
        """Up to `limit` messages after `after` (catch-up reads, gap fills)."""
        async with self._store.connection() as conn:
            return await message_store.list_messages(
                conn, session_id, after=after, limit=limit, max_bytes=max_bytes
            )

    async def last_message_id(self, session_id: str) -> int:
        async with self._store.connection() as conn:
            return await session_store.last_message_id(conn, session_id)

    async def heads(self, session_ids: list[str]) -> dict[str, int]:
        async with self._store.connection() as conn:
            return await session_store.message_heads(conn, session_ids)

    async def _publish_committed(
        self, messages: list[Message], renamed: list[tuple[str, str]]
    ) -> None:
        await self._events.publish_messages(messages)
        for session_id, _name in renamed:
            async with self._store.connection() as conn:
                session = await session_store.get_session(conn, session_id)
            await self._events.publish(session_id, SessionEvent(session=session))
