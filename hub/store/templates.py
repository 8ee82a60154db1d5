"""Session templates and their versions.

A version is written only by moving the template's `current_version` from the number the
writer read to the next one: of concurrent writers at one number, exactly one moves it
(the others find it moved once the winner commits) and get `conflict`. Editing and
archiving lock the template's row (`find_template(..., lock="UPDATE")`); creating a
session from it holds the row `FOR SHARE`, so archiving waits for the session's
transaction (and it for archiving).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import asyncpg

from hub.domain import (
    Blueprint,
    Template,
    TemplateSummary,
    TemplateVersion,
    TemplateVersionInfo,
)
from hub.errors import HubError
from hub.store import Connection, on_unique, row_to, rows_to

__all__ = [
    "MINE",
    "OF_SPACE",
    "PUBLIC",
    "TemplateRow",
    "create_template",
    "find_template",
    "get_version",
    "list_versions",
    "revise",
    "set_archived",
    "template_page",
    "template_view",
]

Scope = Literal["mine", "space", "public"]
MINE: Scope = "mine"
OF_SPACE: Scope = "space"
PUBLIC: Scope = "public"

_CONTENT = (
    "v.name, v.description, v.mode, v.is_private, v.metadata, v.notes, v.files, v.opening_message"
)
_FROM = (
    " FROM templates t"
    " JOIN template_versions v ON v.template_id = t.id AND v.version = t.current_version"
    " LEFT JOIN users o ON o.id = t.owner_user_id"
    " LEFT JOIN workspaces w ON w.id = t.owner_space_id"
)
_WHO = (
    "t.id, t.slug,"
    " COALESCE(o.username, 'space:' || w.slug) || '/' || t.slug AS ref,"
    " o.username AS owner, w.slug AS space, t.is_public AS public,"
    " t.current_version AS version, t.archived_at, t.created_at, t.updated_at"
)
_VIEW = f"SELECT {_WHO}, {_CONTENT}, a.username AS author{_FROM} JOIN users a ON a.id = v.author_id"
_SUMMARY = (
    f"SELECT {_WHO}, v.name, v.description, jsonb_array_length(v.notes) AS note_count,"
    f" jsonb_array_length(v.files) AS file_count{_FROM}"
)
_VERSION = (
    "SELECT v.template_id, v.version, v.is_public AS public, a.username AS author,"
    f" v.created_at, {_CONTENT} FROM template_versions v JOIN users a ON a.id = v.author_id"
)
_VERSION_INFO = (
    "SELECT v.template_id, v.version, v.name, v.is_public AS public,"
    " jsonb_array_length(v.notes) AS note_count, jsonb_array_length(v.files) AS file_count,"
    " a.username AS author, v.created_at"
    " FROM template_versions v JOIN users a ON a.id = v.author_id"
)
_SCOPES: dict[Scope, str] = {
    "mine": "t.owner_user_id = $1",
    "space": "t.owner_space_id = $1",
    "public": "t.is_public AND $1::text IS NULL",
}


class TemplateRow:
    """A template as found for a use case: who owns it, whether it is public or
    archived, and its current version."""

    __slots__ = ("archived", "current_version", "id", "public", "slug", "space_id", "user_id")

    def __init__(self, row: asyncpg.Record) -> None:
        self.id: str = row["id"]
        self.slug: str = row["slug"]
        self.user_id: str | None = row["owner_user_id"]
        self.space_id: str | None = row["owner_space_id"]
        self.public: bool = row["is_public"]
        self.current_version: int = row["current_version"]
        self.archived: bool = row["archived_at"] is not None


async def create_template(
    conn: Connection,
    *,
    template_id: str,
    user_id: str | None,
    space_id: str | None,
    slug: str,
    public: bool,
    content: Blueprint,
    author_id: str,
) -> None:
    """Insert a template (a person's, or a space's) at version 1; `conflict` if its
    owner has a template with that slug (any case)."""
    taken = HubError("conflict", f"the slug {slug!r} is taken among its owner's templates")
    with on_unique({"templates_user_slug_key": taken, "templates_space_slug_key": taken}):
        await conn.execute(
            "INSERT INTO templates (id, owner_user_id, owner_space_id, slug, is_public,"
            " created_by) VALUES ($1, $2, $3, $4, $5, $6)",
            template_id,
            user_id,
            space_id,
            slug,
            public,
            author_id,
        )
    await _insert_version(conn, template_id, 1, public, content, author_id)


async def _insert_version(
    conn: Connection,
    template_id: str,
    version: int,
    public: bool,
    content: Blueprint,
    author_id: str,
) -> None:
    await conn.execute(
        "INSERT INTO template_versions (template_id, version, name, description, mode,"
        " is_private, is_public, metadata, notes, files, opening_message, author_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        template_id,
        version,
        content.name,
        content.description,
        content.mode,
        content.is_private,
        public,
        content.metadata,
        content.notes,
        content.files,
        content.opening_message,
        author_id,
    )


async def find_template(
    conn: Connection,
    *,
    template_id: str | None = None,
    owner: tuple[Literal["user", "space"], str] | None = None,
    slug: str | None = None,
    lock: Literal["UPDATE", "SHARE"] | None = None,
) -> TemplateRow | None:
    """The template with this id, or its `owner`'s (a person's or a space's id) with
    this slug (any case); None if there is none. `lock` locks its row until the
    transaction ends."""
    suffix = {None: "", "UPDATE": " FOR UPDATE", "SHARE": " FOR SHARE"}[lock]
    columns = "id, slug, owner_user_id, owner_space_id, is_public, current_version, archived_at"
    if template_id is not None:
        row = await conn.fetchrow(
            f"SELECT {columns} FROM templates WHERE id = $1{suffix}", template_id
        )
    else:
        assert owner is not None and slug is not None
        column = "owner_user_id" if owner[0] == "user" else "owner_space_id"
        row = await conn.fetchrow(
            f"SELECT {columns} FROM templates WHERE {column} = $1 AND lower(slug) = lower($2)"
            f"{suffix}",
            owner[1],
            slug,
        )
    return None if row is None else TemplateRow(row)


async def template_view(conn: Connection, template_id: str) -> Template:
    row = await conn.fetchrow(f"{_VIEW} WHERE t.id = $1", template_id)
    assert row is not None, "the template exists"
    return row_to(row, Template)


async def template_page(
    conn: Connection,
    scope: Scope,
    owner_id: str | None,
    archived: bool,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[TemplateSummary]:
    """A page of templates, newest first: a person's (`MINE`, `owner_id` theirs), a
    space's (`OF_SPACE`) or the public ones (`PUBLIC`, `owner_id` None), archived ones
    or the others, after the cursor's (created_at, id) if given."""
    at, last_id = after or (None, None)
    rows = await conn.fetch(
        f"{_SUMMARY} WHERE {_SCOPES[scope]} AND (t.archived_at IS NOT NULL) = $2"
        " AND ($3::timestamptz IS NULL OR (t.created_at, t.id) < ($3, $4))"
        " ORDER BY t.created_at DESC, t.id DESC LIMIT $5",
        owner_id,
        archived,
        at,
        last_id,
        limit,
    )
    return rows_to(rows, TemplateSummary)


async def get_version(conn: Connection, template_id: str, version: int) -> TemplateVersion:
    row = await conn.fetchrow(
        f"{_VERSION} WHERE v.template_id = $1 AND v.version = $2", template_id, version
    )
    if row is None:
        raise HubError("not_found", f"no version {version} of this template")
    return row_to(row, TemplateVersion)


async def list_versions(
    conn: Connection, template_id: str, *, before: int | None, limit: int
) -> list[TemplateVersionInfo]:
    """Versions newest first, those below `before` if given."""
    rows = await conn.fetch(
        f"{_VERSION_INFO} WHERE v.template_id = $1"
        " AND ($2::integer IS NULL OR v.version < $2) ORDER BY v.version DESC LIMIT $3",
        template_id,
        before,
        limit,
    )
    return rows_to(rows, TemplateVersionInfo)


async def revise(
    conn: Connection,
    template_id: str,
    *,
    expected_version: int,
    public: bool | None,
    content: Blueprint,
    author_id: str,
) -> None:
    """Write version `expected_version + 1` (and the template's publicity, unless None)
    if the template is still at `expected_version`; otherwise raise `conflict` carrying
    the current template."""
    moved = await conn.fetchrow(
        "UPDATE templates SET current_version = current_version + 1,"
        " is_public = COALESCE($3, is_public), updated_at = now()"
        " WHERE id = $1 AND current_version = $2 RETURNING current_version, is_public",
        template_id,
        expected_version,
        public,
    )
    if moved is None:
        current = await template_view(conn, template_id)
        raise HubError(
            "conflict",
            f"the template is at version {current.version}, not {expected_version}",
            data=current,
        )
    await _insert_version(
        conn, template_id, moved["current_version"], moved["is_public"], content, author_id
    )


async def set_archived(conn: Connection, template_id: str, archived: bool) -> None:
    await conn.execute(
        "UPDATE templates SET archived_at = CASE WHEN $2 THEN now() END, updated_at = now()"
        " WHERE id = $1",
        template_id,
        archived,
    )
