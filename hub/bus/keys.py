"""Every Redis key and channel name Hub uses, in one place."""

from __future__ import annotations

__all__ = [
    "CONTROL_CHANNEL",
    "connections",
    "presence_data",
    "presence_expiry",
    "rate_bucket",
    "session_channel",
    "stream_ended",
    "stream_text",
    "streams_index",
    "streams_info",
    "streams_of",
]

PREFIX = "hub:"
CONTROL_CHANNEL = PREFIX + "control"
"""Always subscribed, so the pub/sub connection exists before any session is."""


def session_channel(session_id: str) -> str:
    """One channel per session: fan-out cost stays with the processes that host it."""
    return f"{PREFIX}session:{session_id}"


def presence_expiry(session_id: str) -> str:
    """Sorted set: participant -> time (epoch seconds) its live presence expires."""
    return f"{PREFIX}presence:exp:{session_id}"


def presence_data(session_id: str) -> str:
    """Hash: participant -> encoded presence."""
    return f"{PREFIX}presence:data:{session_id}"


def rate_bucket(limit: str, subject: str) -> str:
    """Hash (tokens, stamp): the token bucket of one limit (e.g. `invite`) for one
    subject (a client address, or `hub` for a hub-wide limit)."""
    return f"{PREFIX}rate:{limit}:{subject}"


def connections(session_id: str, participant_id: str) -> str:
    """Sorted set: connection id -> time (epoch seconds) its slot expires unless the
    process holding it refreshes it; one set per participant of a session."""
    return f"{PREFIX}conns:{session_id}:{participant_id}"


def streams_index(session_id: str) -> str:
    """Sorted set: stream id -> time (epoch seconds) the open stream lapses unless the
    process holding it refreshes it."""
    return f"{PREFIX}streams:exp:{session_id}"


def streams_info(session_id: str) -> str:
    """Hash: stream id -> the encoded `StreamInfo` of an open stream."""
    return f"{PREFIX}streams:info:{session_id}"


def streams_of(session_id: str, author_id: str) -> str:
    """Sorted set: stream id -> lapse time, the open streams of one author (its limit)."""
    return f"{PREFIX}streams:by:{session_id}:{author_id}"


def stream_text(session_id: str, stream_id: str) -> str:
    """String: the text an open stream has published so far (for late joiners)."""
    return f"{PREFIX}stream:text:{session_id}:{stream_id}"


def stream_ended(session_id: str, stream_id: str) -> str:
    """String, kept a time-to-live after its holder ended the stream: tells a stream
    that ended (its `stream_ended` is on its way) from one that lapsed (its holder is
    gone, and nobody else will announce its end)."""
    return f"{PREFIX}stream:ended:{session_id}:{stream_id}"
