"""Spaces, their members and the sessions in them.

Every change to a space's members locks the space's row first (`find_space(...,
lock=True)`), so changes to one space's members are serialised: two owners demoting
each other at once leave one owner, never none. Creating a session in a space takes the
row `FOR SHARE`, so archiving waits for it (and it for archiving)."""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.domain import Space, SpaceMember, SpaceRole
from hub.errors import HubError
from hub.store import Connection, on_unique, row_to, rows_to

__all__ = [
    "SpaceRow",
    "create_space",
    "find_space",
    "list_members",
    "list_spaces",
    "lock_space_for_watch",
    "lock_spaces",
    "member_role",
    "owner_count",
    "put_member",
    "remove_member",
    "set_archived",
    "space_view",
    "update_space",
]

_VIEW = (
    "SELECT w.id, w.slug, w.name, w.description, c.username AS owner, m.role,"
    " (SELECT count(*) FROM workspace_members n WHERE n.workspace_id = w.id) AS member_count,"
    " w.archived_at, w.created_at, w.updated_at"
    " FROM workspaces w JOIN users c ON c.id = w.created_by"
    " JOIN workspace_members m ON m.workspace_id = w.id AND m.user_id = $1"
)
_MEMBER = (
    "SELECT u.username, u.display_name, m.role, a.username AS added_by, m.created_at,"
    " m.updated_at FROM workspace_members m JOIN users u ON u.id = m.user_id"
    " JOIN users a ON a.id = m.added_by"
)


class SpaceRow:
    """A space as found for a use case: its id, whether it is archived, and the
    caller's role in it (None: not a member)."""

    __slots__ = ("archived", "id", "role", "slug")

    def __init__(self, row: asyncpg.Record, role: SpaceRole | None) -> None:
        self.id: str = row["id"]
        self.slug: str = row["slug"]
        self.archived: bool = row["archived_at"] is not None
        self.role = role


async def create_space(
    conn: Connection, *, space_id: str, user_id: str, slug: str, name: str, description: str
) -> Space:
    """A new space with its creator as its one owner; `conflict` if the slug is taken."""
    with on_unique({"workspaces_slug_key": HubError("conflict", f"the slug {slug!r} is taken")}):
        await conn.execute(
            "INSERT INTO workspaces (id, slug, name, description, created_by)"
            " VALUES ($1, $2, $3, $4, $5)",
            space_id,
            slug,
            name,
            description,
            user_id,
        )
    await conn.execute(
        "INSERT INTO workspace_members (workspace_id, user_id, role, added_by)"
        " VALUES ($1, $2, 'owner', $2)",
        space_id,
        user_id,
    )
    return await space_view(conn, space_id, user_id)


async def find_space(
    conn: Connection, ref: str, user_id: str, *, lock: str | None = None
) -> SpaceRow | None:
    """The space with this id (`spc_…`) or slug, and the person's role in it; None if
    there is none. `lock`: "UPDATE" or "SHARE" to lock its row for the transaction. The
    role is read after the lock is held, so it is the one that stands once any change
    of membership the lock waited for has committed."""
    column = "id = $1" if ref.startswith("spc_") else "lower(slug) = lower($1)"
    suffix = {None: "", "UPDATE": " FOR UPDATE", "SHARE": " FOR SHARE"}[lock]
    row = await conn.fetchrow(
        f"SELECT id, slug, archived_at FROM workspaces WHERE {column}{suffix}", ref
    )
    if row is None:
        return None
    return SpaceRow(row, await member_role(conn, row["id"], user_id))


async def lock_spaces(conn: Connection, space_ids: list[str | None]) -> None:
    """Lock these spaces' rows (FOR UPDATE; Nones skipped) in id order, so two
    transactions locking the same two never wait on each other in a circle."""
    ids = sorted({i for i in space_ids if i is not None})
    if ids:
        await conn.execute(
            "SELECT id FROM workspaces WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", ids
        )


async def lock_space_for_watch(conn: Connection, space_id: str) -> None:
    """Hold the space's row (FOR SHARE) until the transaction ends: its membership and
    its sessions cannot change meanwhile (every such change locks it FOR UPDATE)."""
    await conn.execute("SELECT 1 FROM workspaces WHERE id = $1 FOR SHARE", space_id)


async def space_view(conn: Connection, space_id: str, user_id: str) -> Space:
    row = await conn.fetchrow(f"{_VIEW} WHERE w.id = $2", user_id, space_id)
    assert row is not None, "the caller is a member"
    return row_to(row, Space)


async def list_spaces(conn: Connection, user_id: str) -> list[Space]:
    """The spaces the person is a member of, archived ones last, then by name."""
    rows = await conn.fetch(
        f"{_VIEW} ORDER BY w.archived_at IS NOT NULL, lower(w.name), w.id", user_id
    )
    return rows_to(rows, Space)


async def update_space(conn: Connection, space_id: str, **changes: Any) -> None:
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, 2))
    await conn.execute(
        f"UPDATE workspaces SET {sets}, updated_at = now() WHERE id = $1",
        space_id,
        *changes.values(),
    )


async def set_archived(conn: Connection, space_id: str, archived: bool) -> None:
    await conn.execute(
        "UPDATE workspaces SET archived_at = CASE WHEN $2 THEN now() END, updated_at = now()"
        " WHERE id = $1",
        space_id,
        archived,
    )


async def list_members(conn: Connection, space_id: str) -> list[SpaceMember]:
    rows = await conn.fetch(
        f"{_MEMBER} WHERE m.workspace_id = $1 ORDER BY m.created_at, u.username", space_id
    )
    return rows_to(rows, SpaceMember)


async def member_role(conn: Connection, space_id: str, user_id: str) -> SpaceRole | None:
    role: SpaceRole | None = await conn.fetchval(
        "SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2",
        space_id,
        user_id,
    )
    return role


async def put_member(
    conn: Connection, space_id: str, user_id: str, role: SpaceRole, added_by: str
) -> tuple[SpaceMember, bool]:
    """Add the person with `role`, or change their role: (the member, whether added)."""
    created = await conn.fetchval(
        "INSERT INTO workspace_members (workspace_id, user_id, role, added_by)"
        " VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role,"
        " updated_at = now()"
        " RETURNING xmax = 0",
        space_id,
        user_id,
        role,
        added_by,
    )
    row = await conn.fetchrow(
        f"{_MEMBER} WHERE m.workspace_id = $1 AND m.user_id = $2", space_id, user_id
    )
    assert row is not None
    return row_to(row, SpaceMember), bool(created)


async def remove_member(conn: Connection, space_id: str, user_id: str) -> bool:
    """Remove the person from the space; False if they were not a member."""
    done = await conn.execute(
        "DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2",
        space_id,
        user_id,
    )
    return bool(done != "DELETE 0")


async def owner_count(conn: Connection, space_id: str) -> int:
    found: int = await conn.fetchval(
        "SELECT count(*) FROM workspace_members WHERE workspace_id = $1 AND role = 'owner'",
        space_id,
    )
    return found
