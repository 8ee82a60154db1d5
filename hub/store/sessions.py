"""Sessions and their capability tokens."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from hub.domain import Principal, Session, SessionFilter, SpaceRole, write_refusal
from hub.errors import HubError
from hub.store import Connection, on_unique, row_to, rows_to
from hub.store.spaces import lock_space_for_watch

__all__ = [
    "IN_SPACE",
    "OF_AGENT",
    "OF_AGENT_PUBLIC",
    "OF_USER",
    "PUBLIC",
    "InviteCodeTaken",
    "WatchGrounds",
    "add_token",
    "agent_a_owned_by",
    "claim_agent_b",
    "create_session",
    "filter_args",
    "filter_condition",
    "get_invite",
    "get_session",
    "hold_for_write",
    "invite_target",
    "last_message_id",
    "lock_session",
    "message_heads",
    "principal_for_token",
    "public_session_for_watch",
    "raise_if_gone",
    "revoke_public_watchers",
    "revoke_watchers",
    "rotate_invite",
    "session_page",
    "soft_delete",
    "update_session",
    "watch_grounds",
]

COLUMNS = (
    "id, name, status, mode, is_private, agent_a_id, agent_b_id, invite_expires_at,"
    " workspace_id, metadata, creator_type, creator_name, last_message_id, created_at,"
    " updated_at, agent_a_profile_id IS NOT NULL AS agent_a_verified, agent_a_revision,"
    " (SELECT p.slug FROM agent_profiles p WHERE p.id = agent_a_profile_id) AS agent_a_profile,"
    " agent_b_profile_id IS NOT NULL AS agent_b_verified, agent_b_revision,"
    " (SELECT p.slug FROM agent_profiles p WHERE p.id = agent_b_profile_id) AS agent_b_profile,"
    " template_id, template_version"
    ", forked_from_id AS forked_from, forked_at_message_id"
)


class InviteCodeTaken(Exception):
    """Another session holds the invite code: draw another (the transaction is lost)."""


def _unique_invite_code() -> contextlib.AbstractContextManager[None]:
    return on_unique({"sessions_invite_code_key": InviteCodeTaken()})


async def create_session(
    conn: Connection,
    *,
    session_id: str,
    name: str,
    name_is_auto: bool,
    mode: str,
    is_private: bool,
    agent_a_id: str,
    invite_code: str,
    invite_ttl_seconds: int,
    workspace_id: str | None,
    metadata: dict[str, Any],
    creator_type: str,
    creator_name: str | None,
    agent_a_profile: tuple[str, int] | None = None,
    template: tuple[str, int] | None = None,
) -> Session:
    """Insert a session (agent A verified as `agent_a_profile`, a profile id and its
    configuration revision, if given; created from `template`, a template id and
    version, if given); `InviteCodeTaken` if the code is another session's."""
    profile_id, revision = agent_a_profile or (None, None)
    template_id, template_version = template or (None, None)
    with _unique_invite_code():
        row = await conn.fetchrow(
            f"""INSERT INTO sessions (id, name, name_is_auto, mode, is_private, agent_a_id,
                    invite_code, invite_expires_at, workspace_id, metadata, creator_type,
                    creator_name, agent_a_profile_id, agent_a_revision, template_id,
                    template_version)
                VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8), $9, $10,
                        $11, $12, $13, $14, $15, $16)
                RETURNING {COLUMNS}""",
            session_id,
            name,
            name_is_auto,
            mode,
            is_private,
            agent_a_id,
            invite_code,
            float(invite_ttl_seconds),
            workspace_id,
            metadata,
            creator_type,
            creator_name,
            profile_id,
            revision,
            template_id,
            template_version,
        )
    assert row is not None
    return row_to(row, Session)


async def add_token(
    conn: Connection,
    token_hash: bytes,
    principal: Principal,
    *,
    user_id: str | None = None,
    via_workspace_id: str | None = None,
    via_public: bool = False,
) -> None:
    """Store a token for `principal`; a watch token also names the person who took it
    and the space whose membership let them in (see `revoke_watchers`), or says the
    session's being public let them in (`via_public`, see `revoke_public_watchers`)."""
    await conn.execute(
        "INSERT INTO tokens (token_hash, session_id, role, participant_id, display_name,"
        " watch_only, user_id, via_workspace_id, via_public)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        token_hash,
        principal.session_id,
        principal.role,
        principal.participant_id,
        principal.display_name,
        principal.watch_only,
        user_id,
        via_workspace_id,
        via_public,
    )


async def principal_for_token(conn: Connection, token_hash: bytes) -> tuple[Principal, bool] | None:
    """Who the token speaks for, and whether its session is deleted; None if unknown
    or revoked."""
    row = await conn.fetchrow(
        "SELECT t.session_id, t.role, t.participant_id, t.display_name, t.watch_only,"
        "       s.deleted_at IS NOT NULL AS deleted"
        " FROM tokens t JOIN sessions s ON s.id = t.session_id"
        " WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        token_hash,
    )
    if row is None:
        return None
    principal = Principal(
        session_id=row["session_id"],
        role=row["role"],
        participant_id=row["participant_id"],
        display_name=row["display_name"],
        watch_only=row["watch_only"],
    )
    return principal, row["deleted"]


async def revoke_watchers(
    conn: Connection,
    workspace_id: str,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
) -> list[tuple[str, str]]:
    """Revoke the watch tokens a space's membership gave: all of one person's (they left
    or their role changed), or all of one session's (it left the space). Returns the
    (session id, participant id) of each, to close their connections."""
    rows = await conn.fetch(
        "UPDATE tokens SET revoked_at = now()"
        " WHERE via_workspace_id = $1 AND revoked_at IS NULL"
        "   AND ($2::text IS NULL OR user_id = $2) AND ($3::text IS NULL OR session_id = $3)"
        " RETURNING session_id, participant_id",
        workspace_id,
        user_id,
        session_id,
    )
    return [(row["session_id"], row["participant_id"]) for row in rows]


async def revoke_public_watchers(conn: Connection, session_id: str) -> list[tuple[str, str]]:
    """Revoke the watch tokens the session's being public gave (it became private).
    Returns the (session id, participant id) of each, to close their connections."""
    rows = await conn.fetch(
        "UPDATE tokens SET revoked_at = now()"
        " WHERE session_id = $1 AND via_public AND revoked_at IS NULL"
        " RETURNING session_id, participant_id",
        session_id,
    )
    return [(row["session_id"], row["participant_id"]) for row in rows]


async def public_session_for_watch(conn: Connection, session_id: str) -> Session | None:
    """The session if it is public (and not deleted), its row held (FOR SHARE) until
    the transaction ends, so that making it private waits for a watch token taken now,
    and then revokes it; None otherwise."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM sessions WHERE id = $1 AND NOT is_private"
        " AND deleted_at IS NULL FOR SHARE",
        session_id,
    )
    return None if row is None else row_to(row, Session)


def raise_if_gone(row: asyncpg.Record | None, session_id: str) -> asyncpg.Record:
    if row is None:
        raise HubError("session_not_found", f"no session {session_id}")
    if row["deleted_at"] is not None:
        raise HubError("session_deleted", "the session was deleted")
    return row


async def get_session(conn: Connection, session_id: str) -> Session:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS}, deleted_at FROM sessions WHERE id = $1", session_id
    )
    found = raise_if_gone(row, session_id)
    return row_to(found, Session)


async def get_invite(conn: Connection, session_id: str) -> tuple[str, datetime]:
    """The session's current invite code and when it expires."""
    row = await conn.fetchrow(
        "SELECT invite_code, invite_expires_at, deleted_at FROM sessions WHERE id = $1",
        session_id,
    )
    found = raise_if_gone(row, session_id)
    return found["invite_code"], found["invite_expires_at"]


async def lock_session(conn: Connection, session_id: str) -> Session:
    """Read the session and hold its row lock until the transaction ends."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS}, deleted_at FROM sessions WHERE id = $1 FOR UPDATE", session_id
    )
    return row_to(raise_if_gone(row, session_id), Session)


async def update_session(conn: Connection, session_id: str, **changes: Any) -> Session:
    """Set the given columns (a fixed set of names) and bump `updated_at`."""
    allowed = {
        "status",
        "name",
        "name_is_auto",
        "invite_code",
        "invite_expires_at",
        "workspace_id",
        "is_private",
        "metadata",
    }
    if not changes or set(changes) - allowed:
        raise ValueError(f"cannot update {sorted(set(changes) - allowed)}")
    names = list(changes)
    sets = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(names))
    row = await conn.fetchrow(
        f"UPDATE sessions SET {sets}, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        session_id,
        *(changes[n] for n in names),
    )
    assert row is not None
    return row_to(row, Session)


async def soft_delete(conn: Connection, session_id: str) -> Session:
    row = await conn.fetchrow(
        f"UPDATE sessions SET deleted_at = now(), updated_at = now() WHERE id = $1"
        f" RETURNING {COLUMNS}",
        session_id,
    )
    assert row is not None
    return row_to(row, Session)


async def invite_target(conn: Connection, invite_code: str, *, for_update: bool) -> Session:
    """The live session an invite code opens, or the reason it opens nothing."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS}, deleted_at, invite_expires_at <= now() AS expired"
        f" FROM sessions WHERE invite_code = $1{lock}",
        invite_code,
    )
    if row is None or row["deleted_at"] is not None:
        raise HubError("invite_invalid", "no session has that invite code")
    if row["expired"]:
        raise HubError("invite_expired", "that invite code has expired; ask for a new one")
    return row_to(row, Session)


async def claim_agent_b(
    conn: Connection,
    session_id: str,
    agent_b_id: str,
    agent_b_profile: tuple[str, int] | None = None,
) -> Session:
    """Take the B slot (verified as `agent_b_profile`, a profile id and its configuration
    revision, if given); a waiting session becomes active. Caller holds the row lock."""
    profile_id, revision = agent_b_profile or (None, None)
    row = await conn.fetchrow(
        f"""UPDATE sessions SET agent_b_id = $2, updated_at = now(),
                agent_b_profile_id = $3, agent_b_revision = $4,
                status = CASE WHEN status = 'waiting' THEN 'active' ELSE status END
            WHERE id = $1 AND agent_b_id IS NULL RETURNING {COLUMNS}""",
        session_id,
        agent_b_id,
        profile_id,
        revision,
    )
    if row is None:
        raise HubError("session_full", "agent B has already joined this session")
    return row_to(row, Session)


async def hold_for_write(conn: Connection, session_id: str) -> None:
    """Hold the session against deletion and completion until the transaction ends, and
    refuse (the domain's `write_refusal`) if it takes no writes."""
    row = await conn.fetchrow(
        "SELECT status, deleted_at FROM sessions WHERE id = $1 FOR SHARE", session_id
    )
    refusal = (
        write_refusal(session_id, None, False)
        if row is None
        else write_refusal(session_id, row["status"], row["deleted_at"] is not None)
    )
    if refusal is not None:
        raise refusal


async def rotate_invite(
    conn: Connection, session_id: str, invite_code: str, ttl_seconds: float
) -> datetime:
    """Give the session a new invite code living `ttl_seconds` from now; returns when it
    expires; `InviteCodeTaken` if another session has the code."""
    with _unique_invite_code():
        expires: datetime = await conn.fetchval(
            "UPDATE sessions SET invite_code = $2, updated_at = now(),"
            " invite_expires_at = now() + make_interval(secs => $3)"
            " WHERE id = $1 RETURNING invite_expires_at",
            session_id,
            invite_code,
            ttl_seconds,
        )
    return expires


async def last_message_id(conn: Connection, session_id: str) -> int:
    """Where the session's message log stands; `session_not_found` if there is none."""
    value = await conn.fetchval("SELECT last_message_id FROM sessions WHERE id = $1", session_id)
    if value is None:
        raise HubError("session_not_found", f"no session {session_id}")
    return int(value)


async def message_heads(conn: Connection, session_ids: list[str]) -> dict[str, int]:
    """The last message id of each of these sessions (those that exist)."""
    rows = await conn.fetch(
        "SELECT id, last_message_id FROM sessions WHERE id = ANY($1::text[])", session_ids
    )
    return {row["id"]: row["last_message_id"] for row in rows}


async def session_page(
    conn: Connection,
    which: str,
    arg: object,
    filters: SessionFilter,
    limit: int,
    before: tuple[datetime, str] | None,
) -> list[Session]:
    """A page of sessions (not deleted) chosen by `which`, a condition on `$1` = `arg`
    written by the caller (never from input), narrowed by `filters`, newest first,
    before the cursor (created, id)."""
    rows = await conn.fetch(
        f"""SELECT {COLUMNS} FROM sessions
            WHERE {which} AND deleted_at IS NULL AND {filter_condition(5)}
              AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
            ORDER BY created_at DESC, id DESC LIMIT $2""",
        arg,
        limit,
        None if before is None else before[0],
        None if before is None else before[1],
        *filter_args(filters),
    )
    return rows_to(rows, Session)


def filter_condition(first: int) -> str:
    """The condition of `filter_args(...)` bound from `$first` on, on a query of
    `sessions` (unaliased)."""
    status, mode, agent, after, before = (f"${first + i}" for i in range(5))
    return f"""({status}::text IS NULL OR status = {status})
        AND ({mode}::text IS NULL OR mode = {mode})
        AND ({agent}::text IS NULL OR EXISTS (
            SELECT 1 FROM agent_profiles p WHERE lower(p.slug) = lower({agent})
               AND p.id IN (agent_a_profile_id, agent_b_profile_id)))
        AND ({after}::timestamptz IS NULL OR created_at >= {after})
        AND ({before}::timestamptz IS NULL OR created_at < {before})"""


def filter_args(filters: SessionFilter) -> tuple[object, ...]:
    """The five parameters of `filter_condition`."""
    return (
        filters.status,
        filters.mode,
        filters.agent,
        filters.created_after,
        filters.created_before,
    )


OF_USER = """id IN (
    SELECT s.id FROM agent_profiles p JOIN sessions s ON s.agent_a_profile_id = p.id
     WHERE p.user_id = $1
    UNION
    SELECT s.id FROM agent_profiles p JOIN sessions s ON s.agent_b_profile_id = p.id
     WHERE p.user_id = $1)"""
"""`session_page`'s condition for a person's sessions (`$1`: the user id): those whose
agent A or agent B was one of their profiles."""
IN_SPACE = "workspace_id = $1"
"""`session_page`'s condition for a space's sessions (`$1`: the space id)."""
PUBLIC = "is_private = $1"
"""`session_page`'s condition for the public directory (`$1`: False)."""
OF_AGENT = "$1 IN (agent_a_profile_id, agent_b_profile_id)"
"""`session_page`'s condition for a profile's sessions (`$1`: the profile id), all of
them (its owner's view)."""
OF_AGENT_PUBLIC = "NOT is_private AND $1 IN (agent_a_profile_id, agent_b_profile_id)"
"""`session_page`'s condition for a profile's public sessions (`$1`: the profile id)."""


class WatchGrounds(NamedTuple):
    """Why a person may watch a session without an invite: one of their agents is in
    it (`own_agent`), or their role in its space (`space_role`), or both."""

    session: Session
    own_agent: bool
    space_role: SpaceRole | None


async def watch_grounds(
    conn: Connection,
    session_id: str,
    user_id: str,
    *,
    lock: bool = False,
    include_deleted: bool = False,
) -> WatchGrounds | None:
    """Why the person may watch the session (not deleted, unless `include_deleted`:
    webhooks still deliver what happened up to the deletion) without an invite; None if
    they may not. `lock`: hold the row of the session's space (FOR SHARE) until the
    transaction ends, so a change of membership or a move that would revoke a token
    taken on these grounds waits for it, and then sees it (or it waits for them, and
    then reads the grounds they left)."""
    for _ in range(3):
        row = await conn.fetchrow(
            f"SELECT {COLUMNS} FROM sessions WHERE id = $1 AND ($2 OR deleted_at IS NULL)",
            session_id,
            include_deleted,
        )
        if row is None:
            return None
        session = row_to(row, Session)
        if not lock or session.workspace_id is None:
            break
        await lock_space_for_watch(conn, session.workspace_id)
        moved_to = await conn.fetchval(
            "SELECT workspace_id FROM sessions WHERE id = $1", session_id
        )
        if moved_to == session.workspace_id:
            break
    else:
        raise HubError("conflict", "the session is moving between spaces: try again")
    space_role: SpaceRole | None = None
    if session.workspace_id is not None:
        space_role = await conn.fetchval(
            "SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2",
            session.workspace_id,
            user_id,
        )
    own_agent: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM sessions s JOIN agent_profiles p"
        " ON p.id IN (s.agent_a_profile_id, s.agent_b_profile_id)"
        " WHERE s.id = $1 AND p.user_id = $2)",
        session_id,
        user_id,
    )
    if not own_agent and space_role is None:
        return None
    return WatchGrounds(session, own_agent, space_role)


async def agent_a_owned_by(conn: Connection, session_id: str, user_id: str) -> bool:
    """Whether the session's agent A is a verified profile of the person's."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM sessions s JOIN agent_profiles p"
        " ON p.id = s.agent_a_profile_id WHERE s.id = $1 AND p.user_id = $2)",
        session_id,
        user_id,
    )
    return found
