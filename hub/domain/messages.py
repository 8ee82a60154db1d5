"""Messages: the immutable entries of a session's log, and what they may carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from hub.domain.access import Action, AuthorRole

__all__ = ["MAX_CONTENT_CHARS", "Message", "MsgType", "message_action"]

MsgType = Literal["chat", "handoff", "status", "action", "system"]

MAX_CONTENT_CHARS = 64_000


class Message(msgspec.Struct, kw_only=True):
    """An immutable message; `id` is monotonic and gap-free within its session."""

    id: int
    session_id: str
    author_id: str
    author_role: AuthorRole
    content: str
    msg_type: MsgType
    metadata: dict[str, Any]
    parent_id: int | None
    client_msg_id: str | None
    token_count: int | None
    attachments: list[str]
    created_at: datetime


def message_action(msg_type: MsgType) -> Action:
    """The capability needed to post a message of `msg_type`."""
    return "post_chat" if msg_type == "chat" else "post_typed"
