"""Messages: the immutable entries of a session's log, and what they may carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from hub.domain.access import Action, AuthorRole

__all__ = ["MAX_CONTENT_CHARS", "Message", "MsgType", "message_action"]

MsgType = Literal["chat", "handoff", "status", "action", "system"]

MAX_CONTENT_CHARS = 64_000


class Message(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An immutable message; `id` is monotonic and gap-free within its session.
    (Only `attachment_ids` has a default, so only it is left out when empty: a message
    without attachments is encoded as it was before they existed.)"""

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
    """Paths of this session's (text) files."""
    created_at: datetime
    attachment_ids: list[str] = []
    """Uploaded attachments of this session (`att_…`), in the order the sender gave."""


def message_action(msg_type: MsgType) -> Action:
    """The capability needed to post a message of `msg_type`."""
    return "post_chat" if msg_type == "chat" else "post_typed"
