"""REST bodies of approvals and interrupts: a list and its query, a decision, an
interrupt and what it recorded."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from hub.api.messages import MAX_ID
from hub.domain import Message
from hub.domain.approvals import MAX_COMMENT_CHARS, MAX_REASON_CHARS, Approval, Decision, Interrupt

__all__ = ["ApprovalList", "ApprovalQuery", "DecisionBody", "InterruptBody", "Interrupted"]


class ApprovalQuery(msgspec.Struct, forbid_unknown_fields=False):
    """Query of GET /approvals."""

    status: Annotated[
        Literal["pending", "all"],
        msgspec.Meta(description="pending (default): undecided ones only; all: every request"),
    ] = "pending"
    after: Annotated[
        int, msgspec.Meta(ge=0, le=MAX_ID, description="requests after this message id")
    ] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=200, description="at most this many")] = 50


class ApprovalList(msgspec.Struct, kw_only=True):
    approvals: list[Approval]


class DecisionBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Decide a request: `approved` or `rejected`, with an optional comment."""

    decision: Decision
    comment: Annotated[str, msgspec.Meta(max_length=MAX_COMMENT_CHARS)] | None = None


class InterruptBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Interrupt agent `target` (default agent B), saying why."""

    target: Literal["agent_a", "agent_b"] = "agent_b"
    reason: Annotated[str, msgspec.Meta(max_length=MAX_REASON_CHARS)] = ""


class Interrupted(msgspec.Struct, kw_only=True):
    message: Message
    """The system message recording the interrupt."""
    interrupt: Interrupt
