"""Runner keys (`runner_keys`): a person's or a space's, scoped to job kinds. Like user
and agent keys, a key's text is never stored: its row holds the SHA-256, the name, the
kinds and the times; its last use is written at most once a minute."""

from __future__ import annotations

from hub.domain.jobs import RunnerKey, RunnerPrincipal
from hub.errors import HubError
from hub.store import Connection, row_to, rows_to
from hub.store.keys import USED_LONG_AGO

__all__ = [
    "add_runner_key",
    "list_runner_keys",
    "owner_of",
    "revoke_runner_key",
    "runner_for_key",
]

_KEY = """SELECT k.id, k.name, k.kinds, k.created_at, k.last_used_at, k.revoked_at,
        CASE WHEN k.owner_user_id IS NULL THEN 'space' ELSE 'user' END AS owner_kind,
        coalesce(u.username, w.slug) AS owner
    FROM runner_keys k
    LEFT JOIN users u ON u.id = k.owner_user_id
    LEFT JOIN workspaces w ON w.id = k.owner_space_id"""


async def add_runner_key(
    conn: Connection,
    key_id: str,
    *,
    name: str,
    kinds: list[str],
    key_hash: bytes,
    user_id: str | None,
    space_id: str | None,
    created_by: str,
) -> RunnerKey:
    await conn.execute(
        "INSERT INTO runner_keys (id, owner_user_id, owner_space_id, created_by, name, kinds,"
        " key_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        key_id,
        user_id,
        space_id,
        created_by,
        name,
        sorted(set(kinds)),
        key_hash,
    )
    row = await conn.fetchrow(_KEY + " WHERE k.id = $1", key_id)
    assert row is not None
    return row_to(row, RunnerKey)


async def list_runner_keys(
    conn: Connection, *, user_id: str | None, space_id: str | None
) -> list[RunnerKey]:
    """The person's keys (or the space's), revoked ones too, oldest first."""
    rows = await conn.fetch(
        _KEY + " WHERE k.owner_user_id = $1 OR k.owner_space_id = $2 ORDER BY k.created_at, k.id",
        user_id,
        space_id,
    )
    return rows_to(rows, RunnerKey)


async def owner_of(conn: Connection, key_id: str) -> tuple[str | None, str | None] | None:
    """(owner user id, owner space id) of a key; None if there is no such key."""
    row = await conn.fetchrow(
        "SELECT owner_user_id, owner_space_id FROM runner_keys WHERE id = $1", key_id
    )
    return None if row is None else (row["owner_user_id"], row["owner_space_id"])


async def revoke_runner_key(conn: Connection, key_id: str) -> RunnerKey:
    await conn.execute(
        "UPDATE runner_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1", key_id
    )
    row = await conn.fetchrow(_KEY + " WHERE k.id = $1", key_id)
    if row is None:
        raise HubError("not_found", f"no runner key {key_id[:64]!r}")
    return row_to(row, RunnerKey)


async def runner_for_key(conn: Connection, key_hash: bytes) -> RunnerPrincipal | None:
    """Who a live (unrevoked) runner key speaks for, noting that it was used."""
    row = await conn.fetchrow(
        f"""SELECT k.id, k.name, k.kinds, k.owner_user_id, k.owner_space_id,
                   {USED_LONG_AGO} AS stale
              FROM runner_keys k WHERE k.key_hash = $1 AND k.revoked_at IS NULL""",
        key_hash,
    )
    if row is None:
        return None
    if row["stale"]:
        await conn.execute(
            f"UPDATE runner_keys k SET last_used_at = now() WHERE k.id = $1 AND {USED_LONG_AGO}",
            row["id"],
        )
    return RunnerPrincipal(
        key_id=row["id"],
        name=row["name"],
        kinds=tuple(row["kinds"]),
        owner_user_id=row["owner_user_id"],
        owner_space_id=row["owner_space_id"],
    )
