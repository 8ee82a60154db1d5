"""Approvals: the requests (messages asking for approval) and their one decision.

The undecided requests are also rows of `approval_deadlines` (kept by the schema: a
request's row is written with it and removed with its decision), which the expiry
sweeper reads.

A decision is an INSERT that does nothing when the request already has one: the
primary key on (session, request message) lets exactly one decision win, whichever hub
process tries first. It is written in the transaction that writes its system message
(`insert_batch`, which takes the session row lock first), so a decision and its message
exist together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from hub.domain.approvals import (
    Approval,
    ApprovalRequest,
    ApprovalStatus,
    as_read,
    expires_at,
)
from hub.store import Connection

__all__ = [
    "Overdue",
    "RequestRow",
    "forget_deadline",
    "get_approval",
    "list_approvals",
    "overdue",
    "record_decision",
]

_SELECT = """SELECT m.session_id, m.id AS message_id, m.author_id, m.author_role,
        m.metadata->'approval' AS request, m.created_at, now() AS now,
        d.decision, d.decided_by, d.decided_role, d.comment, d.decided_at,
        d.decision_message_id
    FROM messages m
    LEFT JOIN approval_decisions d ON d.session_id = m.session_id AND d.message_id = m.id
    WHERE m.msg_type = 'action' AND m.metadata ? 'approval'"""


class RequestRow(msgspec.Struct, kw_only=True):
    """A request as read, with the database's clock (`now`) to tell whether it is due."""

    approval: Approval
    now: datetime

    @property
    def overdue(self) -> bool:
        return self.approval.status == "pending" and self.now >= self.approval.expires_at

    @property
    def as_read(self) -> Approval:
        """The request as a read shows it now (`expired` once its time is up)."""
        return as_read(self.approval, self.now)


def _row(row: Any) -> RequestRow:
    request = msgspec.convert(row["request"], ApprovalRequest)
    status: ApprovalStatus = row["decision"] or "pending"
    return RequestRow(
        approval=Approval(
            session_id=row["session_id"],
            message_id=row["message_id"],
            requester_id=row["author_id"],
            requester_role=row["author_role"],
            description=request.description,
            expires_at=expires_at(row["created_at"], request),
            status=status,
            decided_by=row["decided_by"],
            decided_role=row["decided_role"],
            comment=row["comment"],
            decided_at=row["decided_at"],
            decision_message_id=row["decision_message_id"],
        ),
        now=row["now"],
    )


async def get_approval(conn: Connection, session_id: str, message_id: int) -> RequestRow | None:
    """The request `message_id` of the session and its decision; None if that message
    does not exist or asks for no approval."""
    row = await conn.fetchrow(
        _SELECT + " AND m.session_id = $1 AND m.id = $2", session_id, message_id
    )
    return None if row is None else _row(row)


async def list_approvals(
    conn: Connection, session_id: str, *, pending_only: bool, after: int, limit: int
) -> list[RequestRow]:
    """The session's requests after message `after`, in id order (only the undecided
    ones whose time is not up when `pending_only`)."""
    rows = await conn.fetch(
        _SELECT + " AND m.session_id = $1 AND m.id > $2"
        " AND (NOT $3::boolean OR (d.message_id IS NULL AND now() < m.created_at"
        "      + make_interval(secs => (m.metadata->'approval'->>'expires_in')::float8)))"
        " ORDER BY m.id LIMIT $4",
        session_id,
        after,
        pending_only,
        limit,
    )
    return [_row(r) for r in rows]


class Overdue(msgspec.Struct, frozen=True):
    session_id: str
    message_id: int


async def overdue(conn: Connection, limit: int) -> list[Overdue]:
    """Undecided requests (of any session) whose time is up, soonest due first: read
    from `approval_deadlines`, which holds only undecided requests (decided ones cost
    nothing here, however many there are)."""
    rows = await conn.fetch(
        "SELECT session_id, message_id FROM approval_deadlines"
        " WHERE expires_at <= now() ORDER BY expires_at LIMIT $1",
        limit,
    )
    return [Overdue(r["session_id"], r["message_id"]) for r in rows]


async def forget_deadline(conn: Connection, session_id: str, message_id: int) -> None:
    """Stop sweeping a request that can never be decided (its session completed or
    was deleted): it stays undecided, and the sweeper no longer reads it."""
    await conn.execute(
        "DELETE FROM approval_deadlines WHERE session_id = $1 AND message_id = $2",
        session_id,
        message_id,
    )


async def record_decision(
    conn: Connection,
    session_id: str,
    message_id: int,
    *,
    decision: ApprovalStatus,
    decided_by: str | None,
    decided_role: str | None,
    comment: str | None,
    decision_message_id: int,
) -> bool:
    """Record the request's decision unless it has one (then False: nothing written)."""
    row = await conn.fetchrow(
        "INSERT INTO approval_decisions (session_id, message_id, decision, decided_by,"
        " decided_role, comment, decision_message_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (session_id, message_id) DO NOTHING RETURNING 1",
        session_id,
        message_id,
        decision,
        decided_by,
        decided_role,
        comment,
        decision_message_id,
    )
    return row is not None
