"""Forks: a new session made from another at one of its messages. Its history is the
origin's messages 1..N (same authors, types, content and times), and its notes and files
are as they stood after message N (see `hub.domain.history`). Agents A and B fork (the
`fork` action of the capability table); observers do not."""

from __future__ import annotations

from datetime import datetime

import msgspec

from hub.errors import HubError

__all__ = ["Fork", "fork_point"]


class Fork(msgspec.Struct, kw_only=True):
    """A fork as its origin lists it: which session, from which message, and when; no
    credential (the fork's tokens went to whoever forked)."""

    id: str
    name: str
    at_message_id: int
    """The origin's last message the fork's history holds."""
    created_at: datetime


def fork_point(asked: int | None, last_message_id: int) -> int:
    """The message a fork is made at: the one asked for (0 forks before any message), or
    the session's last; `bad_request` past the last."""
    if asked is None:
        return last_message_id
    if asked > last_message_id:
        raise HubError(
            "bad_request",
            f"at_message_id {asked} is past the session's last message ({last_message_id})",
        )
    return asked
