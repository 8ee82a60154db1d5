"""A change's record: the activity row every mutating use case writes in the change's own
transaction, so the audit log holds exactly the changes that were committed. Messages are
the exception: the group commit writes their rows (one per author and batch) inside its
own insert statements (`message_batch`, `message_fresh`), where a round trip per row
would cost the send path dearly. A record that later areas add to every change (an
outbox row for webhooks) goes here, and into those two statements."""

from __future__ import annotations

from typing import Any

from hub.domain import ActivityAction, AgentPrincipal, AuditAction, Principal, UserPrincipal
from hub.store import Connection

__all__ = ["audit", "record", "record_as"]


async def record(
    conn: Connection,
    session_id: str,
    actor_id: str,
    actor_role: str,
    action: ActivityAction,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write the activity row of a change, inside the caller's transaction."""
    await conn.execute(
        "INSERT INTO activity (session_id, actor_id, actor_role, action, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        session_id,
        actor_id,
        actor_role,
        action,
        detail or {},
    )


async def record_as(
    conn: Connection,
    actor: Principal,
    action: ActivityAction,
    detail: dict[str, Any] | None = None,
) -> None:
    """`record` for a change made by `actor` in its own session."""
    await record(conn, actor.session_id, actor.participant_id, actor.role, action, detail)


async def audit(
    conn: Connection,
    actor: UserPrincipal | AgentPrincipal | None,
    user_id: str,
    action: AuditAction,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write the audit row of a change to what `user_id` owns, inside the caller's
    transaction: made by `actor` (a person through one of their keys, or an agent
    program through its agent key), or, with no actor, by the account's own credentials
    (sign-up, log-in)."""
    await conn.execute(
        "INSERT INTO audit (user_id, actor_kind, actor_id, action, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        user_id,
        "agent" if isinstance(actor, AgentPrincipal) else "user",
        actor.key_id if actor is not None else user_id,
        action,
        detail or {},
    )
