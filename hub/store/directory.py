"""The public directory: public agent profiles, searched and sorted, in keyset pages."""

from __future__ import annotations

from typing import Any

import msgspec

from hub.domain import DirectoryEntry, DirectorySort
from hub.store import Connection

__all__ = ["find_public", "public_card_row"]

_ENTRIES = """
WITH entries AS (
    SELECT p.id, p.slug, p.name, p.description, u.username AS owner, p.skills, p.avatar_url,
           p.rating_count,
           CASE WHEN p.rating_count > 0 THEN p.rating_sum::float8 / p.rating_count END
               AS rating_mean,
           p.last_active_at
    FROM agent_profiles p JOIN users u ON u.id = p.user_id
    WHERE p.visibility = 'public'
      AND ($1::text IS NULL OR p.name ILIKE $1 OR p.slug ILIKE $1 OR p.description ILIKE $1
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(p.skills) s
                       WHERE s->>'name' ILIKE $1
                          OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(s->'tags') t
                                      WHERE t ILIKE $1)))
      AND ($2::text IS NULL
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(p.skills) s
                       WHERE lower(s->>'id') = lower($2) OR lower(s->>'name') = lower($2)))
      AND ($3::jsonb IS NULL OR p.skills @> $3::jsonb)
)
SELECT *, {key} AS sort_key FROM entries
WHERE $4::float8 IS NULL OR ({key}, slug) < ($4::float8, $5::text)
ORDER BY sort_key DESC, slug DESC
LIMIT $6
"""
_KEYS: dict[DirectorySort, str] = {
    # unrated agents after every rated one; the most recently active first
    "rating": "coalesce(rating_mean, 0)",
    "activity": "coalesce(extract(epoch FROM last_active_at), 0)::float8",
}


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def find_public(
    conn: Connection,
    *,
    text: str | None,
    skill: str | None,
    tag: str | None,
    sort: DirectorySort,
    limit: int,
    after: tuple[float, str] | None,
) -> list[tuple[DirectoryEntry, float]]:
    """Public profiles matching `text` (in name, slug, description, or a skill's name or
    tag), a skill (its id or name, in any case) and a tag, best first by `sort`, after the
    cursor (sort key, slug): entries and their keys."""
    rows = await conn.fetch(
        _ENTRIES.format(key=_KEYS[sort]),
        _like(text) if text else None,
        skill,
        [{"tags": [tag]}] if tag else None,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [
        (
            msgspec.convert(
                {k: v for k, v in row.items() if k not in ("id", "sort_key")}, DirectoryEntry
            ),
            float(row["sort_key"]),
        )
        for row in rows
    ]


async def public_card_row(conn: Connection, slug: str) -> dict[str, Any] | None:
    """What a public profile's card shows, or None (no such profile, or not public)."""
    row = await conn.fetchrow(
        """SELECT p.slug, p.name, p.description, p.skills, p.current_revision, p.rating_count,
                  p.rating_scores, u.display_name AS owner,
                  CASE WHEN p.rating_count > 0 THEN p.rating_sum::float8 / p.rating_count END
                      AS rating_mean
           FROM agent_profiles p JOIN users u ON u.id = p.user_id
           WHERE lower(p.slug) = lower($1) AND p.visibility = 'public'""",
        slug,
    )
    return dict(row.items()) if row is not None else None
