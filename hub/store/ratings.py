"""Ratings between the verified agents of a session; the profiles' aggregates follow by
trigger (sql/0008_ratings.sql)."""

from __future__ import annotations

from datetime import datetime

from hub.domain import Rating
from hub.errors import HubError
from hub.store import Connection, row_to, rows_to

__all__ = ["delete_rating", "list_ratings", "rated_session", "save_rating"]

_RATING = (
    "SELECT r.session_id, a.slug AS rater, b.slug AS ratee, r.score, r.review, r.created_at,"
    " r.updated_at FROM ratings r JOIN agent_profiles a ON a.id = r.rater_profile_id"
    " JOIN agent_profiles b ON b.id = r.ratee_profile_id"
)


async def rated_session(conn: Connection, session_id: str) -> tuple[str, str | None, str | None]:
    """The session's status and its verified agents' profile ids, held against change
    until the transaction ends; `session_not_found` or `session_deleted` if none."""
    row = await conn.fetchrow(
        "SELECT status, deleted_at, agent_a_profile_id, agent_b_profile_id FROM sessions"
        " WHERE id = $1 FOR SHARE",
        session_id,
    )
    if row is None:
        raise HubError("session_not_found", f"no session {session_id[:64]}")
    if row["deleted_at"] is not None:
        raise HubError("session_deleted", "the session was deleted")
    return row["status"], row["agent_a_profile_id"], row["agent_b_profile_id"]


async def save_rating(
    conn: Connection, session_id: str, rater_id: str, ratee_id: str, score: int, review: str
) -> tuple[Rating, bool]:
    """Rate, or change one's rating (the one row of this rater for this session); returns
    it and whether it is new. Concurrent first ratings by one rater make one row."""
    row = await conn.fetchrow(
        """INSERT INTO ratings (session_id, rater_profile_id, ratee_profile_id, score, review)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (session_id, rater_profile_id) DO UPDATE
               SET score = EXCLUDED.score, review = EXCLUDED.review, updated_at = now()
           RETURNING (xmax = 0) AS created""",
        session_id,
        rater_id,
        ratee_id,
        score,
        review,
    )
    assert row is not None
    found = await conn.fetchrow(
        f"{_RATING} WHERE r.session_id = $1 AND r.rater_profile_id = $2", session_id, rater_id
    )
    assert found is not None
    return row_to(found, Rating), bool(row["created"])


async def list_ratings(
    conn: Connection, ratee_id: str, limit: int, before: tuple[datetime, str] | None
) -> list[Rating]:
    """Ratings the profile received, newest first, before the cursor (created, session)."""
    if before is None:
        rows = await conn.fetch(
            f"{_RATING} WHERE r.ratee_profile_id = $1"
            " ORDER BY r.created_at DESC, r.session_id DESC LIMIT $2",
            ratee_id,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"{_RATING} WHERE r.ratee_profile_id = $1 AND (r.created_at, r.session_id) < ($3, $4)"
            " ORDER BY r.created_at DESC, r.session_id DESC LIMIT $2",
            ratee_id,
            limit,
            before[0],
            before[1],
        )
    return rows_to(rows, Rating)


async def delete_rating(
    conn: Connection, session_id: str, rater_slug: str
) -> tuple[Rating, str, str] | None:
    """Delete the rating agent `rater_slug` (any case) gave in `session_id`, the
    ratee's aggregates following by trigger: it, and the user ids of its rater's and
    its ratee's owners; None if there is no such rating."""
    row = await conn.fetchrow(
        """WITH gone AS (
               DELETE FROM ratings r USING agent_profiles a
                WHERE r.session_id = $1 AND r.rater_profile_id = a.id
                  AND lower(a.slug) = lower($2)
               RETURNING r.*
           )
           SELECT g.session_id, a.slug AS rater, b.slug AS ratee, g.score, g.review,
                  g.created_at, g.updated_at, a.user_id AS rater_owner,
                  b.user_id AS ratee_owner
           FROM gone g JOIN agent_profiles a ON a.id = g.rater_profile_id
           JOIN agent_profiles b ON b.id = g.ratee_profile_id""",
        session_id,
        rater_slug,
    )
    if row is None:
        return None
    return row_to(row, Rating), row["rater_owner"], row["ratee_owner"]
