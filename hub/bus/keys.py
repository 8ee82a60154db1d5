"""Every Redis key and channel name Hub uses, in one place."""

from __future__ import annotations

__all__ = ["CONTROL_CHANNEL", "presence_data", "presence_expiry", "session_channel"]

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
