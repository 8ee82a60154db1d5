"""A change's record: the activity row every mutating use case writes in the change's own
transaction, so the audit log holds exactly the changes that were committed. Messages are
the exception: the group commit writes their rows (one per author and batch) inside its
own insert statements (`message_batch`, `message_fresh`), where a round trip per row
would cost the send path dearly; and a system message that is part of another change
(a decision, an interrupt: `insert_batch(..., logged=False)`) writes no row of its own,
that change's row names it. A change that webhooks deliver (other than a message:
the messages table is its own outbox) also writes its outbox row here: with its
activity row, in the same statement (`record(..., outbox=...)`: no round trip more than
the activity row's, endpoint or not), or alone (`outbox`) where it has none."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from hub.domain import ActivityAction, AgentPrincipal, AuditAction, Principal, UserPrincipal
from hub.domain.webhooks import OutboxType, filter_patterns
from hub.store import Connection

__all__ = ["OPERATOR", "Operator", "audit", "outbox", "record", "record_as"]

Operator = Literal["operator"]
OPERATOR: Operator = "operator"
"""The actor of a change an operator made from the command line (audited as `system`)."""

_encoder = msgspec.json.Encoder()

_OUTBOX = """wanted AS (
        SELECT 1 FROM webhook_endpoints e JOIN sessions s ON s.id = $1
         WHERE e.deleted_at IS NULL AND e.event_types && $3::text[]
           AND (e.session_id = $1
                OR (e.session_id IS NULL AND e.space_id = s.workspace_id)
                OR (e.session_id IS NULL AND e.space_id IS NULL AND (
                    EXISTS (SELECT 1 FROM workspace_members m
                             WHERE m.user_id = e.user_id
                               AND m.workspace_id = s.workspace_id)
                    OR EXISTS (SELECT 1 FROM agent_profiles p
                                WHERE p.user_id = e.user_id
                                  AND p.id IN (s.agent_a_profile_id,
                                               s.agent_b_profile_id)))))
         LIMIT 1
    ), head AS (
        INSERT INTO webhook_event_heads AS h (session_id, last_event_id)
        SELECT $1, 1 FROM wanted
        ON CONFLICT (session_id) DO UPDATE
           SET last_event_id = h.last_event_id + 1, updated_at = now()
        RETURNING last_event_id
    )
    INSERT INTO webhook_events (session_id, id, event_type, payload)
    SELECT $1, last_event_id, $2, $4 FROM head"""
"""The outbox row of a change (`outbox`): $1 the session, $2 the event type, $3 the
filter entries that take it, $4 the payload."""


async def record(
    conn: Connection,
    session_id: str,
    actor_id: str,
    actor_role: str,
    action: ActivityAction,
    detail: dict[str, Any] | None = None,
    *,
    outbox: tuple[OutboxType, msgspec.Struct] | None = None,
) -> None:
    """Write the activity row of a change, inside the caller's transaction; with
    `outbox` (the webhook event type and the websocket event), its outbox row too, in
    the same statement (see `outbox`: one round trip for both)."""
    if outbox is None:
        await conn.execute(
            "INSERT INTO activity (session_id, actor_id, actor_role, action, detail)"
            " VALUES ($1, $2, $3, $4, $5)",
            session_id,
            actor_id,
            actor_role,
            action,
            detail or {},
        )
        return
    event_type, event = outbox
    await conn.execute(
        f"""WITH act AS (
                INSERT INTO activity (session_id, actor_id, actor_role, action, detail)
                VALUES ($1, $5, $6, $7, $8)
            ), {_OUTBOX}""",
        session_id,
        event_type,
        filter_patterns(event_type),
        _encoder.encode(event).decode(),
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
    *,
    outbox: tuple[OutboxType, msgspec.Struct] | None = None,
) -> None:
    """`record` for a change made by `actor` in its own session."""
    await record(
        conn, actor.session_id, actor.participant_id, actor.role, action, detail, outbox=outbox
    )


async def audit(
    conn: Connection,
    actor: UserPrincipal | AgentPrincipal | Operator | None,
    user_id: str,
    action: AuditAction,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write the audit row of a change to what `user_id` owns, inside the caller's
    transaction: made by `actor` (a person through one of their keys, or an agent
    program through its agent key), by an operator at the command line (`OPERATOR`),
    or, with no actor, by the account's own credentials (sign-up, log-in)."""
    kind: str
    actor_id: str
    if actor == OPERATOR:
        kind, actor_id = "system", OPERATOR
    elif isinstance(actor, AgentPrincipal):
        kind, actor_id = "agent", actor.key_id
    else:
        kind, actor_id = "user", actor.key_id if actor is not None else user_id
    await conn.execute(
        "INSERT INTO audit (user_id, actor_kind, actor_id, action, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        user_id,
        kind,
        actor_id,
        action,
        detail or {},
    )


async def outbox(
    conn: Connection, session_id: str, event_type: OutboxType, event: msgspec.Struct
) -> None:
    """Write the webhook outbox row of a change (`event`: its websocket event, the
    payload receivers get), inside the caller's transaction; only if some endpoint (not
    deleted; enabled or not, as it resumes from where it stopped) has a filter taking
    this type and a scope that may take this session (the session itself, its space, or
    a person with an agent in it or a member of its space, as `discover_streams` finds
    them; the grounds are checked again at delivery): with none, it writes nothing. Its id is the
    session's next, from the session's head row, which the change holds locked until it
    commits, so ids are gap-free and in commit order per session (`webhook_events`)."""
    await conn.execute(
        f"WITH {_OUTBOX}",
        session_id,
        event_type,
        filter_patterns(event_type),
        _encoder.encode(event).decode(),
    )
