"""Activity: the append-only audit log, one row per change."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from hub.domain.access import AuthorRole

__all__ = ["Activity", "ActivityAction"]

# Every kind of change, each written as one activity row in the change's own transaction.
ActivityAction = Literal[
    "session.created",
    "agent_b.joined",
    "observer.joined",
    "session.updated",
    "session.deleted",
    "session.moved",
    "session.forked",
    "session.forked_from",
    "invite.rotated",
    "message.sent",
    "approval.decided",
    "session.interrupted",
    "note.created",
    "note.updated",
    "file.written",
    "attachment.uploaded",
    "artifact.created",
    "artifact.updated",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
    "webhook.secret_rotated",
    "webhook.redelivered",
    "session.pool_set",
    "job.created",
    "job.claimed",
    "job.requeued",
    "job.succeeded",
    "job.failed",
    "job.cancelled",
    "job.timed_out",
    "job.refunded",
]


class Activity(msgspec.Struct, kw_only=True):
    """One row of the append-only audit log."""

    id: int
    session_id: str
    actor_id: str
    actor_role: AuthorRole
    action: str
    detail: dict[str, Any]
    created_at: datetime
