"""Presence: where a participant is, as announced live and last persisted."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from hub.domain.access import Role

__all__ = ["Presence", "PresenceStatus"]

PresenceStatus = Literal["online", "working", "idle", "offline"]


class Presence(msgspec.Struct, kw_only=True):
    """Where a participant is: online/working/idle, or offline once gone."""

    participant_id: str
    role: Role
    status: PresenceStatus
    activity: str | None = None
    last_seen_at: datetime | None = None
    display_name: str | None = None
