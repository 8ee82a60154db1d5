"""Streams: a message an agent writes piece by piece, relayed live as it grows and
committed as one ordinary message when it ends (or dropped, marked aborted).

The rules here are pure: who may stream, how large a stream may grow, how a delta that
repeats text already received (a re-send after a reconnect) is trimmed, and what an
open stream is as the hub tells it (`StreamInfo`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from hub.domain.access import Principal, Role, require
from hub.domain.messages import MAX_CONTENT_CHARS, MsgType, message_action
from hub.errors import HubError

__all__ = [
    "MAX_STREAM_CHARS",
    "AbortReason",
    "StreamInfo",
    "check_stream_author",
    "fresh_part",
]

MAX_STREAM_CHARS = MAX_CONTENT_CHARS
"""A stream ends as one message, so it may grow to a message's size and no more."""

AbortReason = Literal["disconnected", "cancelled", "shutdown", "lost"]
"""Why a stream ended without a message: its author stayed away past the abort
timeout, its author aborted it, the hub process holding it shut down, or that process
was lost (it died without a word: the stream lapsed in the bus)."""


class StreamInfo(msgspec.Struct, kw_only=True):
    """An open stream: `id` is the author's choice, unique among the session's open
    streams; the message it becomes is of `msg_type`, replying to `parent_id`."""

    id: str
    session_id: str
    author_id: str
    author_role: Role
    msg_type: MsgType
    parent_id: int | None
    started_at: datetime
    size: int = 0
    """Characters received so far (in the `stream_started` of a catch-up: the length
    of the text that comes with it)."""


def check_stream_author(principal: Principal, msg_type: MsgType) -> None:
    """Raise `forbidden` unless the principal may stream a message of `msg_type`:
    agents only (an observer, watch-only or not, posts whole messages), and only types
    its role may post."""
    if msg_type == "system":
        raise HubError("forbidden", "system messages are written by the hub only")
    require(principal, "stream")
    require(principal, message_action(msg_type))


def fresh_part(size: int, offset: int | None, text: str) -> str:
    """What of a delta is new, given the stream's `size` so far. A delta naming its
    `offset` (the characters before it) that overlaps what was received is trimmed: a
    delta re-sent after a reconnect adds nothing twice. One starting past the end would
    leave a hole: `conflict`."""
    if offset is None or offset == size:
        return text
    if offset > size:
        raise HubError(
            "conflict", f"the stream has {size} characters: a delta at {offset} leaves a gap"
        )
    return text[size - offset :]
