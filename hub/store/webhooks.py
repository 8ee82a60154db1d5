"""Webhook endpoints, their sealed secrets, their delivery streams and attempts.

An owner is a person (`user_id`) or, for a session's own endpoints, that session
(`user_id` NULL): `Owner` says which, and every query of an owner's endpoints matches
it exactly, so one owner never reaches another's.

Delivery state is kept per stream, one endpoint and one session: the ids of the last
message and of the last outbox event (`webhook_events`) done (delivered, or passed by
the filter), the failed attempts at the next one and when to try again, and the lease
of the worker delivering it (a token per claim, so that a stream rewound for redelivery
and taken again is never written by the delivery that held it before). Taking streams
(`claim_streams`) locks them with FOR UPDATE SKIP LOCKED only for the moment it sets the
lease, so no transaction stays open during an HTTP request; every later write checks
that the lease is still this worker's (a worker whose lease ran out stops)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from hub.domain.webhooks import Delivery, Webhook, WebhookScope
from hub.store import Connection, row_to, rows_to
from hub.vault import Sealed

__all__ = [
    "Attempt",
    "Claim",
    "OutboxEvent",
    "Owner",
    "Target",
    "add_secret",
    "attempted",
    "claim_streams",
    "count_endpoints",
    "create_endpoint",
    "delete_endpoint",
    "discover_streams",
    "drop_stream",
    "failed",
    "find_endpoint",
    "find_event",
    "list_attempts",
    "list_endpoints",
    "list_events",
    "live_secrets",
    "log_attempt",
    "passed",
    "prune",
    "queue_depth",
    "release",
    "retire_secrets",
    "rewind_streams",
    "target",
    "update_endpoint",
    "wanting_endpoints",
]


class Owner(NamedTuple):
    """A person (`user_id`), or else the session that owns its own endpoints."""

    user_id: str | None
    session_id: str | None


_OWNED = (
    "(($1::text IS NOT NULL AND e.user_id = $1)"
    " OR ($1::text IS NULL AND e.user_id IS NULL AND e.session_id = $2))"
    " AND e.deleted_at IS NULL"
)
_VIEW = (
    "SELECT e.id, e.url, e.description, e.event_types, e.session_id, e.space_id,"
    " CASE WHEN e.user_id IS NULL THEN 'session' ELSE 'user' END AS owner, e.enabled,"
    " e.disabled_reason, e.failing_since,"
    " (SELECT max(s.expires_at) FROM webhook_secrets s"
    "   WHERE s.endpoint_id = e.id AND s.expires_at > now()) AS secret_rotates_at,"
    " e.created_at, e.updated_at FROM webhook_endpoints e"
)


async def count_endpoints(conn: Connection, owner: Owner) -> int:
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM webhook_endpoints e WHERE {_OWNED}", *owner
    )
    return count


async def create_endpoint(
    conn: Connection,
    *,
    endpoint_id: str,
    owner: Owner,
    scope_session: str | None,
    space_id: str | None,
    url: str,
    description: str,
    event_types: list[str],
    enabled: bool,
) -> None:
    await conn.execute(
        "INSERT INTO webhook_endpoints (id, user_id, session_id, space_id, url, description,"
        " event_types, enabled, disabled_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        " CASE WHEN $8 THEN NULL ELSE 'disabled by its owner' END)",
        endpoint_id,
        owner.user_id,
        owner.session_id if owner.user_id is None else scope_session,
        space_id,
        url,
        description,
        event_types,
        enabled,
    )


async def find_endpoint(
    conn: Connection, endpoint_id: str, owner: Owner, *, lock: bool = False
) -> Webhook | None:
    """The owner's endpoint (not deleted), its row locked for the transaction if asked."""
    row = await conn.fetchrow(
        f"{_VIEW} WHERE {_OWNED} AND e.id = $3{' FOR UPDATE OF e' if lock else ''}",
        *owner,
        endpoint_id,
    )
    return None if row is None else row_to(row, Webhook)


async def list_endpoints(conn: Connection, owner: Owner) -> list[Webhook]:
    rows = await conn.fetch(f"{_VIEW} WHERE {_OWNED} ORDER BY e.created_at, e.id", *owner)
    return rows_to(rows, Webhook)


async def update_endpoint(conn: Connection, endpoint_id: str, changes: dict[str, Any]) -> None:
    """Set the named columns (names from the caller's code, never from input).
    Enabling clears why it was disabled and makes its waiting streams due now."""
    if not changes:
        return
    if changes.get("enabled") is True:
        changes = {**changes, "disabled_reason": None, "failing_since": None}
        await conn.execute(
            "UPDATE webhook_streams SET attempts = 0, next_attempt_at = now()"
            " WHERE endpoint_id = $1",
            endpoint_id,
        )
    elif changes.get("enabled") is False:
        changes = {**changes, "disabled_reason": "disabled by its owner"}
    names = list(changes)
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, 2))
    await conn.execute(
        f"UPDATE webhook_endpoints SET {sets}, updated_at = now() WHERE id = $1",
        endpoint_id,
        *changes.values(),
    )


async def delete_endpoint(conn: Connection, endpoint_id: str) -> None:
    """Delete an endpoint: its secrets and streams go for good; the row (and its
    delivery log) stays, marked deleted."""
    await conn.execute("DELETE FROM webhook_secrets WHERE endpoint_id = $1", endpoint_id)
    await conn.execute("DELETE FROM webhook_streams WHERE endpoint_id = $1", endpoint_id)
    await conn.execute(
        "UPDATE webhook_endpoints SET deleted_at = now(), enabled = false,"
        " disabled_reason = 'deleted', updated_at = now() WHERE id = $1",
        endpoint_id,
    )


async def add_secret(conn: Connection, endpoint_id: str, secret_id: str, sealed: Sealed) -> None:
    """The endpoint's new current secret (retire the current one first)."""
    await conn.execute(
        "INSERT INTO webhook_secrets (id, endpoint_id, key_id, nonce, ciphertext)"
        " VALUES ($1, $2, $3, $4, $5)",
        secret_id,
        endpoint_id,
        sealed.key_id,
        sealed.nonce,
        sealed.ciphertext,
    )


async def retire_secrets(conn: Connection, endpoint_id: str, overlap_seconds: int) -> datetime:
    """Make the current secret stop signing `overlap_seconds` from now, and secrets
    retired earlier stop now (only the newest previous one overlaps); returns when."""
    await conn.execute(
        "DELETE FROM webhook_secrets WHERE endpoint_id = $1 AND expires_at IS NOT NULL",
        endpoint_id,
    )
    expires: datetime = await conn.fetchval(
        "UPDATE webhook_secrets SET expires_at = now() + make_interval(secs => $2)"
        " WHERE endpoint_id = $1 AND expires_at IS NULL RETURNING expires_at",
        endpoint_id,
        overlap_seconds,
    )
    return expires


async def live_secrets(conn: Connection, endpoint_id: str) -> list[tuple[str, Sealed]]:
    """The secrets that sign the endpoint's deliveries now, the current one first."""
    rows = await conn.fetch(
        "SELECT id, key_id, nonce, ciphertext FROM webhook_secrets"
        " WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > now())"
        " ORDER BY expires_at DESC NULLS FIRST",
        endpoint_id,
    )
    return [(r["id"], Sealed(r["key_id"], bytes(r["nonce"]), bytes(r["ciphertext"]))) for r in rows]


async def list_attempts(
    conn: Connection, endpoint_id: str, before: int | None, limit: int
) -> list[Delivery]:
    rows = await conn.fetch(
        "SELECT id, webhook_id, session_id, event_type, kind, attempt, status, error,"
        " latency_ms, response_excerpt, next_attempt_at, created_at FROM webhook_attempts"
        " WHERE endpoint_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        endpoint_id,
        before,
        limit,
    )
    return rows_to(rows, Delivery)


# --- delivery -------------------------------------------------------------------------


async def wanting_endpoints(conn: Connection) -> list[tuple[str, list[str]]]:
    """Every enabled endpoint's id and event filter."""
    rows = await conn.fetch(
        "SELECT id, event_types FROM webhook_endpoints WHERE enabled AND deleted_at IS NULL"
    )
    return [(r["id"], list(r["event_types"])) for r in rows]


async def discover_streams(conn: Connection, endpoint_ids: list[str]) -> int:
    """Open a stream for each of these endpoints and each session in its scope that has
    had messages or outbox events since the endpoint was registered and has no stream
    yet. The stream starts after the last message and event before the registration, and
    a fork's after the history it was made with (copies, not new messages). Sessions are found by
    the same grounds `sessions.watch_grounds` checks (its agents, its space), now: a
    person's endpoint gets no stream for a session they may no longer hear (one that
    would be dropped at its first delivery and opened again at the next look, for ever),
    and each delivery checks the grounds again. Returns how many were opened."""
    if not endpoint_ids:
        return 0
    status: str = await conn.execute(
        """WITH e AS (
               SELECT * FROM webhook_endpoints WHERE id = ANY($1::text[])
           ), pairs AS (
               SELECT e.id AS endpoint_id, s.id AS session_id, e.created_at AS since
                 FROM e JOIN sessions s ON s.id = e.session_id
                WHERE e.user_id IS NULL
                   OR EXISTS (SELECT 1 FROM workspace_members m
                               WHERE m.user_id = e.user_id
                                 AND m.workspace_id = s.workspace_id)
                   OR EXISTS (SELECT 1 FROM agent_profiles p
                               WHERE p.user_id = e.user_id
                                 AND p.id IN (s.agent_a_profile_id, s.agent_b_profile_id))
               UNION
               SELECT e.id, s.id, e.created_at
                 FROM e JOIN sessions s ON s.workspace_id = e.space_id
                WHERE e.session_id IS NULL
                  AND EXISTS (SELECT 1 FROM workspace_members m
                               WHERE m.user_id = e.user_id AND m.workspace_id = e.space_id)
               UNION
               SELECT e.id, s.id, e.created_at
                 FROM e JOIN workspace_members m ON m.user_id = e.user_id
                 JOIN sessions s ON s.workspace_id = m.workspace_id
                WHERE e.session_id IS NULL AND e.space_id IS NULL
               UNION
               SELECT e.id, s.id, e.created_at
                 FROM e JOIN agent_profiles p ON p.user_id = e.user_id
                 JOIN sessions s ON p.id IN (s.agent_a_profile_id, s.agent_b_profile_id)
                WHERE e.session_id IS NULL AND e.space_id IS NULL
           )
           INSERT INTO webhook_streams (endpoint_id, session_id, after_message_id,
                                       after_event_id)
           SELECT p.endpoint_id, p.session_id,
                  GREATEST(COALESCE((SELECT max(m.id) FROM messages m
                                      WHERE m.session_id = p.session_id
                                        AND m.created_at < p.since), 0),
                           COALESCE(s.forked_at_message_id, 0)),
                  COALESCE((SELECT max(v.id) FROM webhook_events v
                             WHERE v.session_id = p.session_id
                               AND v.occurred_at < p.since), 0)
             FROM pairs p JOIN sessions s ON s.id = p.session_id
             LEFT JOIN webhook_event_heads h ON h.session_id = p.session_id
            WHERE ((s.deleted_at IS NULL AND s.last_message_id > 0 AND s.updated_at >= p.since)
                   OR h.updated_at >= p.since)
              AND NOT EXISTS (SELECT 1 FROM webhook_streams w
                               WHERE w.endpoint_id = p.endpoint_id
                                 AND w.session_id = p.session_id)
           ON CONFLICT DO NOTHING""",
        endpoint_ids,
    )
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True, slots=True)
class Claim:
    """A stream a worker holds (under the lease token `lease`): deliver the messages
    after `after_message_id` and the outbox events after `after_event_id`."""

    endpoint_id: str
    session_id: str
    after_message_id: int
    after_event_id: int
    attempts: int
    lease: str


async def claim_streams(
    conn: Connection, lease: str, limit: int, lease_seconds: float, per_endpoint: int
) -> list[Claim]:
    """Lease up to `limit` streams that have messages or events to deliver and are due
    (their retry time has come, no live lease), the longest waiting first, under the
    token `lease` (unique to this claim); streams another worker is taking at this
    moment are skipped, not waited for. Of one endpoint, no more are leased than make
    `per_endpoint` with those already under a live lease: a slow endpoint hearing many
    sessions holds that many delivery slots, and the others stay free for other
    endpoints. (Two workers claiming at the same instant each count the leases
    committed before, so together they may pass it once; never by more than a claim.)"""
    rows = await conn.fetch(
        """WITH busy AS (
               SELECT endpoint_id, count(*) AS leased FROM webhook_streams
                WHERE leased_until > now() GROUP BY endpoint_id
           ), ranked AS (
               SELECT w.endpoint_id, w.session_id, w.next_attempt_at,
                      COALESCE(b.leased, 0) + row_number() OVER (
                          PARTITION BY w.endpoint_id ORDER BY w.next_attempt_at) AS place
                 FROM webhook_streams w
                 JOIN webhook_endpoints e ON e.id = w.endpoint_id
                 JOIN sessions s ON s.id = w.session_id
                 LEFT JOIN webhook_event_heads h ON h.session_id = w.session_id
                 LEFT JOIN busy b ON b.endpoint_id = w.endpoint_id
                WHERE e.enabled AND e.deleted_at IS NULL
                  AND (s.last_message_id > w.after_message_id
                       OR COALESCE(h.last_event_id, 0) > w.after_event_id)
                  AND w.next_attempt_at <= now()
                  AND (w.leased_until IS NULL OR w.leased_until <= now())
           ), due AS (
               SELECT w.endpoint_id, w.session_id FROM webhook_streams w
                 JOIN ranked r ON r.endpoint_id = w.endpoint_id AND r.session_id = w.session_id
                WHERE r.place <= $4
                  AND w.next_attempt_at <= now()
                  AND (w.leased_until IS NULL OR w.leased_until <= now())
                ORDER BY r.next_attempt_at LIMIT $2
                FOR UPDATE OF w SKIP LOCKED
           )
           UPDATE webhook_streams w SET leased_by = $1,
                  leased_until = now() + make_interval(secs => $3)
             FROM due WHERE w.endpoint_id = due.endpoint_id AND w.session_id = due.session_id
           RETURNING w.endpoint_id, w.session_id, w.after_message_id, w.after_event_id,
                     w.attempts""",
        lease,
        limit,
        lease_seconds,
        per_endpoint,
    )
    return [
        Claim(
            r["endpoint_id"],
            r["session_id"],
            r["after_message_id"],
            r["after_event_id"],
            r["attempts"],
            lease,
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A change's outbox row: its type, its websocket event (JSON) and when it was made."""

    id: int
    event_type: str
    payload: str
    occurred_at: datetime


async def list_events(
    conn: Connection, session_id: str, after: int, limit: int
) -> list[OutboxEvent]:
    """The session's outbox events after id `after`, in id order."""
    rows = await conn.fetch(
        "SELECT id, event_type, payload, occurred_at FROM webhook_events"
        " WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        session_id,
        after,
        limit,
    )
    return [OutboxEvent(r["id"], r["event_type"], r["payload"], r["occurred_at"]) for r in rows]


@dataclass(frozen=True, slots=True)
class Target:
    """Where and what an endpoint is delivered to."""

    id: str
    url: str
    event_types: list[str]
    scope: WebhookScope
    enabled: bool


async def target(conn: Connection, endpoint_id: str) -> Target | None:
    """The endpoint as a delivery needs it (None once deleted)."""
    row = await conn.fetchrow(
        "SELECT id, url, event_types, user_id, session_id, space_id, enabled"
        " FROM webhook_endpoints WHERE id = $1 AND deleted_at IS NULL",
        endpoint_id,
    )
    if row is None:
        return None
    scope = WebhookScope(row["user_id"], row["session_id"], row["space_id"])
    return Target(row["id"], row["url"], list(row["event_types"]), scope, row["enabled"])


class Attempt(NamedTuple):
    """What one attempt did, for the delivery log."""

    webhook_id: str
    session_id: str | None
    event_type: str
    attempt: int
    status: int | None
    error: str | None
    latency_ms: int
    response_excerpt: str


async def _log(
    conn: Connection,
    endpoint_id: str,
    attempt: Attempt,
    next_at: datetime | None,
    kind: str = "event",
) -> int:
    found: int = await conn.fetchval(
        "INSERT INTO webhook_attempts (endpoint_id, webhook_id, session_id, event_type,"
        " attempt, status, error, latency_ms, response_excerpt, next_attempt_at, kind)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        endpoint_id,
        *attempt,
        next_at,
        kind,
    )
    return found


async def log_attempt(
    conn: Connection, endpoint_id: str, attempt: Attempt, kind: Literal["test", "redelivery"]
) -> Delivery:
    """Log an attempt made on request (a test event, a redelivery): it moves no stream
    and changes no failure state. Returns it as the log shows it."""
    attempt_id = await _log(conn, endpoint_id, attempt, None, kind)
    found = await list_attempts(conn, endpoint_id, attempt_id + 1, 1)
    return found[0]


async def attempted(
    conn: Connection, endpoint_id: str, webhook_id: str
) -> tuple[str, str, int] | None:
    """(session, event type, attempts so far) of an event in the endpoint's delivery log;
    None if it never was (a test event never is)."""
    row = await conn.fetchrow(
        "SELECT session_id, event_type, max(attempt) AS attempts FROM webhook_attempts"
        " WHERE endpoint_id = $1 AND webhook_id = $2 AND kind <> 'test'"
        " GROUP BY session_id, event_type LIMIT 1",
        endpoint_id,
        webhook_id,
    )
    if row is None or row["session_id"] is None:
        return None
    return row["session_id"], row["event_type"], row["attempts"]


async def find_event(conn: Connection, session_id: str, event_id: int) -> OutboxEvent | None:
    found = await list_events(conn, session_id, event_id - 1, 1)
    return found[0] if found and found[0].id == event_id else None


async def rewind_streams(conn: Connection, endpoint_id: str, since: datetime) -> int:
    """Deliver again everything since `since` (not before the endpoint's registration,
    nor a fork's copied history): each of its streams goes back to the last message and
    event before then, due now, its lease ended (the delivery that held it stops at its
    next write; one still failing is tried now); a stream with nothing since then is
    left as it is. Returns how many streams went back."""
    status: str = await conn.execute(
        """WITH back AS (
               SELECT w.session_id,
                      GREATEST(COALESCE((SELECT max(m.id) FROM messages m
                                          WHERE m.session_id = w.session_id
                                            AND m.created_at < GREATEST($2, e.created_at)), 0),
                               COALESCE(s.forked_at_message_id, 0)) AS message_id,
                      COALESCE((SELECT max(v.id) FROM webhook_events v
                                 WHERE v.session_id = w.session_id
                                   AND v.occurred_at < GREATEST($2, e.created_at)), 0)
                          AS event_id,
                      s.last_message_id, COALESCE(h.last_event_id, 0) AS last_event_id
                 FROM webhook_streams w
                 JOIN webhook_endpoints e ON e.id = w.endpoint_id
                 JOIN sessions s ON s.id = w.session_id
                 LEFT JOIN webhook_event_heads h ON h.session_id = w.session_id
                WHERE w.endpoint_id = $1
           )
           UPDATE webhook_streams w SET
               after_message_id = LEAST(w.after_message_id, back.message_id),
               after_event_id = LEAST(w.after_event_id, back.event_id),
               attempts = 0, next_attempt_at = now(), leased_by = NULL, leased_until = NULL
           FROM back
           WHERE w.endpoint_id = $1 AND w.session_id = back.session_id
             AND (back.last_message_id > back.message_id OR back.last_event_id > back.event_id)""",
        endpoint_id,
        since,
    )
    return int(status.rsplit(" ", 1)[-1])


_HELD = "endpoint_id = $1 AND session_id = $2 AND leased_by = $3 AND leased_until > now()"


async def passed(
    conn: Connection,
    claim: Claim,
    done: tuple[int, int],
    lease_seconds: float,
    attempt: Attempt | None,
) -> bool:
    """Mark everything up to `done` (a message id, an event id) done (delivered, with
    its attempt logged, or passed by the filter) and renew the lease; False if the
    lease is no longer the claim's (nothing is written then: the stream is someone
    else's, or was rewound)."""
    moved = await conn.fetchval(
        f"UPDATE webhook_streams SET after_message_id = $4, after_event_id = $5,"
        f" attempts = 0, next_attempt_at = now(),"
        f" leased_until = now() + make_interval(secs => $6)"
        f" WHERE {_HELD} RETURNING true",
        claim.endpoint_id,
        claim.session_id,
        claim.lease,
        *done,
        lease_seconds,
    )
    if not moved:
        return False
    if attempt is not None:
        await _log(conn, claim.endpoint_id, attempt, None)
        await conn.execute(
            "UPDATE webhook_endpoints SET failing_since = NULL"
            " WHERE id = $1 AND failing_since IS NOT NULL",
            claim.endpoint_id,
        )
    return True


async def failed(
    conn: Connection,
    claim: Claim,
    attempt: Attempt,
    delay: float,
    *,
    gone: bool,
    disable_after: float,
) -> bool:
    """Log a failed attempt, schedule the next one `delay` seconds on and release the
    stream; disable the endpoint if it answered 410 Gone (`gone`) or has failed for
    `disable_after` seconds without a success. False if the lease was lost."""
    next_at: datetime | None = await conn.fetchval(
        f"UPDATE webhook_streams SET attempts = attempts + 1,"
        f" next_attempt_at = now() + make_interval(secs => $4), leased_by = NULL,"
        f" leased_until = NULL WHERE {_HELD} RETURNING next_attempt_at",
        claim.endpoint_id,
        claim.session_id,
        claim.lease,
        delay,
    )
    if next_at is None:
        return False
    reason = await conn.fetchval(
        """UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, now()),
               enabled = enabled AND NOT $2
                   AND COALESCE(failing_since, now()) > now() - make_interval(secs => $3),
               disabled_reason = CASE
                   WHEN NOT enabled THEN disabled_reason
                   WHEN $2 THEN 'the endpoint answered 410 Gone'
                   WHEN COALESCE(failing_since, now()) <= now() - make_interval(secs => $3)
                   THEN 'deliveries failed without a success since '
                        || to_char(failing_since, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                   END,
               updated_at = now()
           WHERE id = $1 RETURNING disabled_reason""",
        claim.endpoint_id,
        gone,
        disable_after,
    )
    await _log(conn, claim.endpoint_id, attempt, None if reason else next_at)
    return True


async def release(conn: Connection, claim: Claim) -> None:
    """Give the stream back (nothing more due, or the worker is stopping)."""
    await conn.execute(
        "UPDATE webhook_streams SET leased_by = NULL, leased_until = NULL"
        " WHERE endpoint_id = $1 AND session_id = $2 AND leased_by = $3",
        claim.endpoint_id,
        claim.session_id,
        claim.lease,
    )


async def drop_stream(conn: Connection, claim: Claim) -> None:
    """Forget a stream whose session the endpoint may no longer hear (it is opened
    again, from the registration, if the session comes back into its scope)."""
    await conn.execute(
        "DELETE FROM webhook_streams WHERE endpoint_id = $1 AND session_id = $2 AND leased_by = $3",
        claim.endpoint_id,
        claim.session_id,
        claim.lease,
    )


async def queue_depth(conn: Connection) -> tuple[int, int]:
    """(events waiting over every stream of an enabled endpoint, streams due now)."""
    row = await conn.fetchrow(
        """SELECT COALESCE(sum(GREATEST(s.last_message_id - w.after_message_id, 0)
                              + GREATEST(COALESCE(h.last_event_id, 0) - w.after_event_id, 0)),
                          0)::bigint AS waiting,
                  count(*) FILTER (WHERE w.next_attempt_at <= now()
                                     AND (s.last_message_id > w.after_message_id
                                          OR COALESCE(h.last_event_id, 0) > w.after_event_id))
                      AS due
             FROM webhook_streams w
             JOIN webhook_endpoints e ON e.id = w.endpoint_id AND e.enabled
             JOIN sessions s ON s.id = w.session_id
             LEFT JOIN webhook_event_heads h ON h.session_id = w.session_id"""
    )
    assert row is not None
    return int(row["waiting"]), int(row["due"])


PRUNE_BATCH = 5000


async def prune(conn: Connection, older_than_seconds: float) -> tuple[int, int]:
    """Delete up to `PRUNE_BATCH` delivery attempts and as many outbox events made more
    than `older_than_seconds` ago (the oldest first); returns how many of each went."""
    attempts: str = await conn.execute(
        """DELETE FROM webhook_attempts WHERE id IN (
               SELECT id FROM webhook_attempts
                WHERE created_at < now() - make_interval(secs => $1)
                ORDER BY created_at LIMIT $2)""",
        older_than_seconds,
        PRUNE_BATCH,
    )
    events: str = await conn.execute(
        """DELETE FROM webhook_events WHERE (session_id, id) IN (
               SELECT session_id, id FROM webhook_events
                WHERE occurred_at < now() - make_interval(secs => $1)
                ORDER BY occurred_at LIMIT $2)""",
        older_than_seconds,
        PRUNE_BATCH,
    )
    return int(attempts.rsplit(" ", 1)[-1]), int(events.rsplit(" ", 1)[-1])
