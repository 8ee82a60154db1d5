"""REST bodies of messages: a history page and its query, and a sent message. The body
of a send is the websocket's `SendMessage` frame without its `type`."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.domain import Message

MAX_ID = 2**63 - 1
"""The largest id a query takes (a PostgreSQL bigint)."""


class MessageQuery(msgspec.Struct, forbid_unknown_fields=False):
    """Query of GET /messages: keyset pagination either way."""

    after: (
        Annotated[int, msgspec.Meta(ge=0, le=MAX_ID, description="messages after this id")] | None
    ) = None
    before: (
        Annotated[int, msgspec.Meta(ge=1, le=MAX_ID, description="messages before this id")] | None
    ) = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000, description="at most this many")] = 100


class MessagePage(msgspec.Struct, kw_only=True):
    messages: list[Message]
    last_message_id: int


class SentMessage(msgspec.Struct, kw_only=True):
    message: Message
    duplicate: bool
