"""Agent profiles, their agent keys and their configuration revisions.

A profile's `config_schema`, when set, is satisfied by its current revision and every
revision written after: the schema and each revision are written holding the profile's row
lock (`lock_profile`), so neither can slip past the other's check.

A revision is written only by moving the profile's `current_revision` from the number the
writer read to the next one: of concurrent writers at one number, exactly one moves it
(the others find it moved once the winner commits) and the others get `conflict`.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from hub.domain import AgentKey, AgentPrincipal, AgentProfile, ConfigRevision, Skill
from hub.errors import HubError
from hub.store import Connection, keys, on_unique, row_to, rows_to

__all__ = [
    "add_key",
    "agent_for_key",
    "config_schema",
    "create_profile",
    "find_profile",
    "get_revision",
    "list_keys",
    "list_profiles",
    "list_revisions",
    "lock_profile",
    "revise",
    "revoke_key",
    "set_config_schema",
    "update_profile",
]

_PROFILE = (
    "SELECT p.id, p.slug, u.username AS owner, p.name, p.description, p.skills, p.visibility,"
    " p.avatar_url, p.current_revision, p.created_at, p.updated_at, p.user_id,"
    " p.rating_count, p.rating_scores,"
    " CASE WHEN p.rating_count > 0 THEN p.rating_sum::float8 / p.rating_count END"
    " AS rating_mean"
    " FROM agent_profiles p JOIN users u ON u.id = p.user_id"
)
_REVISION = (
    "SELECT r.revision, r.config, u.username AS author, r.rollback_of, r.created_at"
    " FROM {source} r JOIN users u ON u.id = r.author_id"
)


def _profile(row: asyncpg.Record) -> AgentProfile:
    return msgspec.convert({k: v for k, v in row.items() if k != "user_id"}, AgentProfile)


async def create_profile(
    conn: Connection,
    *,
    profile_id: str,
    user_id: str,
    slug: str,
    name: str,
    description: str,
    skills: list[Skill],
    visibility: str,
    avatar_url: str | None,
    config: dict[str, Any],
) -> AgentProfile:
    """Insert a profile at configuration revision 1; `conflict` if the slug (any case)
    is taken."""
    with on_unique({"agent_profiles_slug_key": HubError("conflict", "that slug is taken")}):
        await conn.execute(
            """INSERT INTO agent_profiles (id, user_id, slug, name, description, skills,
                   visibility, avatar_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            profile_id,
            user_id,
            slug,
            name,
            description,
            msgspec.to_builtins(skills),
            visibility,
            avatar_url,
        )
    await conn.execute(
        "INSERT INTO agent_config_revisions (profile_id, revision, config, author_id)"
        " VALUES ($1, 1, $2, $3)",
        profile_id,
        config,
        user_id,
    )
    found = await find_profile(conn, slug)
    assert found is not None
    return found[0]


async def find_profile(conn: Connection, slug: str) -> tuple[AgentProfile, str] | None:
    """The profile named `slug` (any case) and its owner's user id, or None."""
    row = await conn.fetchrow(f"{_PROFILE} WHERE lower(p.slug) = lower($1)", slug)
    if row is None:
        return None
    return _profile(row), row["user_id"]


async def list_profiles(conn: Connection, user_id: str) -> list[AgentProfile]:
    rows = await conn.fetch(f"{_PROFILE} WHERE p.user_id = $1 ORDER BY p.created_at, p.id", user_id)
    return [_profile(row) for row in rows]


async def update_profile(conn: Connection, profile_id: str, **changes: Any) -> AgentProfile:
    """Set the given metadata columns (a fixed set of names) and bump `updated_at`."""
    allowed = {"name", "description", "skills", "visibility", "avatar_url"}
    if not changes or set(changes) - allowed:
        raise ValueError(f"cannot update {sorted(set(changes) - allowed)}")
    names = list(changes)
    sets = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(names))
    slug = await conn.fetchval(
        f"UPDATE agent_profiles SET {sets}, updated_at = now() WHERE id = $1 RETURNING slug",
        profile_id,
        *(msgspec.to_builtins(changes[n]) for n in names),
    )
    found = await find_profile(conn, slug)
    assert found is not None
    return found[0]


async def add_key(
    conn: Connection, *, key_id: str, profile_id: str, name: str, key_hash: bytes
) -> AgentKey:
    return await keys.add_key(
        conn,
        "agent_keys.profile_id",
        profile_id,
        key_id=key_id,
        name=name,
        key_hash=key_hash,
        type_=AgentKey,
    )


async def list_keys(conn: Connection, profile_id: str) -> list[AgentKey]:
    return await keys.list_keys(conn, "agent_keys.profile_id", profile_id, AgentKey)


async def revoke_key(conn: Connection, profile_id: str, key_id: str) -> AgentKey:
    """Revoke one of the profile's keys (again: no change); `not_found` if not its own."""
    return await keys.revoke_key(
        conn, "agent_keys.profile_id", profile_id, key_id, AgentKey, "this agent has no such key"
    )


async def agent_for_key(conn: Connection, key_hash: bytes) -> AgentPrincipal | None:
    """Who a live (unrevoked) agent key speaks for, with its profile's current revision,
    noting that it was used. No lock is taken (many sessions may be entered with one key
    at once); of concurrent first uses, one writes `last_used_at` and the others, having
    waited for it, find it fresh."""
    row = await conn.fetchrow(
        f"""SELECT k.id AS key_id, p.id AS profile_id, p.slug, p.user_id AS owner_id,
                  p.current_revision AS revision, {keys.USED_LONG_AGO} AS stale
           FROM agent_keys k JOIN agent_profiles p ON p.id = k.profile_id
           WHERE k.key_hash = $1 AND k.revoked_at IS NULL""",
        key_hash,
    )
    if row is None:
        return None
    if row["stale"]:
        await keys.note_used(conn, "agent_keys.profile_id", row["key_id"])
    return msgspec.convert({k: v for k, v in row.items() if k != "stale"}, AgentPrincipal)


async def get_revision(conn: Connection, profile_id: str, revision: int) -> ConfigRevision:
    row = await conn.fetchrow(
        _REVISION.format(source="agent_config_revisions")
        + " WHERE r.profile_id = $1 AND r.revision = $2",
        profile_id,
        revision,
    )
    if row is None:
        raise HubError("not_found", f"no configuration revision {revision}")
    return row_to(row, ConfigRevision)


async def list_revisions(
    conn: Connection, profile_id: str, *, before: int | None, limit: int
) -> list[ConfigRevision]:
    """Revisions newest first, those below `before` if given."""
    rows = await conn.fetch(
        _REVISION.format(source="agent_config_revisions")
        + " WHERE r.profile_id = $1 AND ($2::integer IS NULL OR r.revision < $2)"
        " ORDER BY r.revision DESC LIMIT $3",
        profile_id,
        before,
        limit,
    )
    return rows_to(rows, ConfigRevision)


async def revise(
    conn: Connection,
    profile_id: str,
    *,
    expected_revision: int,
    config: dict[str, Any],
    author_id: str,
    rollback_of: int | None = None,
) -> ConfigRevision:
    """Write revision `expected_revision + 1` if the profile is still at
    `expected_revision`; otherwise raise `conflict` carrying the current revision."""
    moved = await conn.fetchval(
        """UPDATE agent_profiles SET current_revision = current_revision + 1, updated_at = now()
           WHERE id = $1 AND current_revision = $2 RETURNING current_revision""",
        profile_id,
        expected_revision,
    )
    if moved is None:
        current_number = await conn.fetchval(
            "SELECT current_revision FROM agent_profiles WHERE id = $1", profile_id
        )
        current = await get_revision(conn, profile_id, current_number)
        raise HubError(
            "conflict",
            f"the configuration is at revision {current.revision}, not {expected_revision}",
            data=current,
        )
    row = await conn.fetchrow(
        "WITH r AS (INSERT INTO agent_config_revisions"
        " (profile_id, revision, config, author_id, rollback_of)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING *) " + _REVISION.format(source="r"),
        profile_id,
        moved,
        config,
        author_id,
        rollback_of,
    )
    assert row is not None
    return row_to(row, ConfigRevision)


async def lock_profile(conn: Connection, profile_id: str) -> tuple[int, dict[str, Any] | None]:
    """Lock the profile's row until the transaction ends; its current revision and its
    configuration schema (None: none) as they are under the lock."""
    row = await conn.fetchrow(
        "SELECT current_revision, config_schema FROM agent_profiles WHERE id = $1 FOR UPDATE",
        profile_id,
    )
    assert row is not None
    return row["current_revision"], row["config_schema"]


async def config_schema(conn: Connection, profile_id: str) -> dict[str, Any] | None:
    schema: dict[str, Any] | None = await conn.fetchval(
        "SELECT config_schema FROM agent_profiles WHERE id = $1", profile_id
    )
    return schema


async def set_config_schema(
    conn: Connection, profile_id: str, schema: dict[str, Any] | None
) -> None:
    """Set (None: clear) the profile's configuration schema; the caller holds the row
    lock and has checked the current revision against it."""
    await conn.execute(
        "UPDATE agent_profiles SET config_schema = $2, updated_at = now() WHERE id = $1",
        profile_id,
        schema,
    )
