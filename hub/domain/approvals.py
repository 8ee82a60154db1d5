"""Approvals and interrupts: humans in the loop.

An approval request is an ordinary `action` message whose metadata carries `approval`
(a description and how long it stays open); its decision is an ordinary system message
replying to it, recorded once (the first decision wins; expiry is a decision too). The
session's `approval_policy` (in its metadata) says who may decide. An interrupt asks a
working agent to stop; agent A and every approver may send one. Agents' `status`
messages may carry an A2A-like task `state`. Pure rules: no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec

from hub.domain.access import AuthorRole, Principal, Role
from hub.errors import HubError

__all__ = [
    "DEFAULT_APPROVERS",
    "DEFAULT_EXPIRES_IN",
    "MAX_COMMENT_CHARS",
    "MAX_DESCRIPTION_CHARS",
    "MAX_EXPIRES_IN",
    "MAX_REASON_CHARS",
    "Approval",
    "ApprovalPolicy",
    "ApprovalRequest",
    "ApprovalStatus",
    "Approver",
    "Decision",
    "Interrupt",
    "TaskState",
    "approval_request",
    "as_read",
    "check_message_metadata",
    "check_policy",
    "decision_content",
    "expires_at",
    "interrupt_content",
    "may_decide",
    "may_interrupt",
    "policy_of",
]

MAX_DESCRIPTION_CHARS = 2000
MAX_COMMENT_CHARS = 2000
MAX_REASON_CHARS = 2000
DEFAULT_EXPIRES_IN = 3600.0
"""Seconds a request stays open when it does not say."""
MAX_EXPIRES_IN = 7 * 86400.0

Approver = Literal["agent_a", "agent_b", "observers"]
DEFAULT_APPROVERS: tuple[Approver, ...] = ("agent_a", "observers")
Decision = Literal["approved", "rejected"]
ApprovalStatus = Literal["pending", "approved", "rejected", "expired"]
TaskState = Literal["working", "input-required", "completed", "failed", "cancelled"]


class ApprovalRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`metadata.approval` of an `action` message: what is asked, and for how long
    (seconds from the message's commit) it may be decided before it expires."""

    description: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_DESCRIPTION_CHARS)]
    expires_in: Annotated[float, msgspec.Meta(ge=1, le=MAX_EXPIRES_IN)] = DEFAULT_EXPIRES_IN


class ApprovalPolicy(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`metadata.approval_policy` of a session: which roles decide, and, if `observers`
    is given, which observers (by participant id) among them."""

    approvers: Annotated[list[Approver], msgspec.Meta(min_length=1, max_length=3)] = msgspec.field(
        default_factory=lambda: list(DEFAULT_APPROVERS)
    )
    observers: (
        Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]], msgspec.Meta(max_length=64)]
        | None
    ) = None


class Approval(msgspec.Struct, kw_only=True):
    """An approval request and its decision (`status` pending until decided)."""

    session_id: str
    message_id: int
    """The `action` message that asks."""
    requester_id: str
    requester_role: AuthorRole
    description: str
    expires_at: datetime
    status: ApprovalStatus
    decided_by: str | None = None
    """Who decided (null for `expired`)."""
    decided_role: Role | None = None
    comment: str | None = None
    decided_at: datetime | None = None
    decision_message_id: int | None = None
    """The system message that records the decision (a reply to `message_id`)."""


class Interrupt(msgspec.Struct, kw_only=True):
    """Who interrupted which agent, and why (`metadata.interrupt` of its system message)."""

    target: Literal["agent_a", "agent_b"]
    target_id: str
    by: str
    by_role: Role
    reason: str


def approval_request(metadata: dict[str, Any]) -> ApprovalRequest | None:
    """The approval an `action` message's metadata asks for (None if it asks none);
    `bad_request` if `metadata.approval` is malformed."""
    raw = metadata.get("approval")
    if raw is None:
        return None
    try:
        return msgspec.convert(raw, ApprovalRequest)
    except msgspec.ValidationError as exc:
        raise HubError("bad_request", f"metadata.approval: {exc}") from None


def check_message_metadata(msg_type: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """Refuse malformed approval requests and task states, without I/O; returns the
    metadata to store (an approval request normalised, with its defaults)."""
    if msg_type == "action" and "approval" in metadata:
        request = approval_request(metadata)
        return {**metadata, "approval": msgspec.to_builtins(request)}
    if msg_type == "status" and "state" in metadata:
        try:
            msgspec.convert(metadata["state"], TaskState)
        except msgspec.ValidationError:
            raise HubError(
                "bad_request",
                "metadata.state must be one of working, input-required, completed,"
                " failed, cancelled",
            ) from None
    return metadata


def check_policy(session_metadata: dict[str, Any]) -> None:
    """Refuse (ValueError) a session's malformed `approval_policy`."""
    raw = session_metadata.get("approval_policy")
    if raw is not None:
        try:
            msgspec.convert(raw, ApprovalPolicy)
        except msgspec.ValidationError as exc:
            raise ValueError(f"metadata.approval_policy: {exc}") from None


def policy_of(session_metadata: dict[str, Any]) -> ApprovalPolicy:
    """The session's policy (the default when it names none)."""
    raw = session_metadata.get("approval_policy")
    if raw is None:
        return ApprovalPolicy()
    return msgspec.convert(raw, ApprovalPolicy)


def _approver(policy: ApprovalPolicy, who: Principal) -> bool:
    if who.watch_only:
        return False
    if who.role == "observer":
        return "observers" in policy.approvers and (
            policy.observers is None or who.participant_id in policy.observers
        )
    return who.role in policy.approvers


def may_decide(policy: ApprovalPolicy, who: Principal, requester_id: str) -> None:
    """Raise `forbidden` unless `who` may decide a request of `requester_id` (an
    approver under the policy, and not the requester)."""
    if who.participant_id == requester_id:
        raise HubError("forbidden", "a request cannot be decided by its requester")
    if not _approver(policy, who):
        raise HubError("forbidden", "you are not an approver under this session's policy")


def may_interrupt(policy: ApprovalPolicy, who: Principal) -> None:
    """Raise `forbidden` unless `who` is agent A or an approver."""
    if not who.watch_only and who.role == "agent_a":
        return
    if not _approver(policy, who):
        raise HubError("forbidden", "only agent A and approvers may interrupt")


def expires_at(created_at: datetime, request: ApprovalRequest) -> datetime:
    return created_at + timedelta(seconds=request.expires_in)


def as_read(approval: Approval, now: datetime) -> Approval:
    """The request as a read shows it at `now`: an undecided one whose time is up reads
    `expired` (nothing else can be decided for it now), though its decision (with
    `decided_at` and its system message) is written only by the sweeper or the next
    attempt to decide it, never by a read."""
    if approval.status == "pending" and now >= approval.expires_at:
        return msgspec.structs.replace(approval, status="expired")
    return approval


def decision_content(status: ApprovalStatus, decided_by: str | None, comment: str | None) -> str:
    """The text of a decision's system message (`decided_by`: the name to show)."""
    if status == "expired":
        return "Approval expired."
    text = f"{'Approved' if status == 'approved' else 'Rejected'} by {decided_by}."
    return f"{text} {comment}" if comment else text


def interrupt_content(interrupt: Interrupt, by_name: str | None = None) -> str:
    """The text of an interrupt's system message (`by_name`: the interrupter's display
    name, if it has one)."""
    text = f"{by_name or interrupt.by} interrupted {interrupt.target_id}."
    return f"{text} {interrupt.reason}" if interrupt.reason else text
