"""Full-text search over session names and message content (PostgreSQL, the english
configuration; see sql/0014_search.sql for the indexes), ranked, with highlighted
snippets, among the sessions a condition written by the caller chooses."""

from __future__ import annotations

from collections import defaultdict

from hub.domain import MessageHit, SearchHit, Session, SessionFilter, segments
from hub.store import Connection, row_to
from hub.store.sessions import COLUMNS, filter_args, filter_condition

__all__ = ["BEST_MESSAGES", "search_sessions"]

BEST_MESSAGES = 3
"""How many of a found session's messages are shown, best first."""

_NAME_OPTIONS = "HighlightAll=true, StartSel={0}, StopSel={1}"
_MESSAGE_OPTIONS = "MaxWords=35, MinWords=15, ShortWord=3, StartSel={0}, StopSel={1}"


def _search_sql(which: str) -> str:
    """Sessions matching `$2` (a `websearch_to_tsquery` text) by name or by messages,
    among those `which` chooses ($1) narrowed by the filters ($6 to $10), best first, after
    the cursor (score $4, id $5), at most $3; each with its name highlighted ($11: the
    `ts_headline` options) and the ids of its best messages."""
    return f"""
    WITH query AS (SELECT websearch_to_tsquery('english', $2) AS q),
    scope AS (
        SELECT id FROM sessions
         WHERE {which} AND deleted_at IS NULL AND {filter_condition(6)}
    ),
    named AS (
        SELECT s.id, ts_rank(to_tsvector('english', s.name), query.q) AS r
          FROM sessions s, query
         WHERE to_tsvector('english', s.name) @@ query.q AND s.id IN (SELECT id FROM scope)
    ),
    said AS (
        SELECT h.id, sum(h.r) AS r, count(*) AS n,
               (array_agg(h.message_id ORDER BY h.r DESC, h.message_id DESC))[1:{BEST_MESSAGES}]
                   AS best
          FROM (SELECT m.session_id AS id, m.id AS message_id, ts_rank(m.search, query.q) AS r
                  FROM messages m, query
                 WHERE m.search @@ query.q AND m.session_id IN (SELECT id FROM scope)) h
         GROUP BY h.id
    ),
    scored AS (
        SELECT coalesce(named.id, said.id) AS id,
               (2 * coalesce(named.r, 0) + coalesce(said.r, 0))::float8 AS score,
               coalesce(said.n, 0) AS matches, coalesce(said.best, '{{}}') AS best
          FROM named FULL JOIN said ON said.id = named.id
    )
    SELECT {COLUMNS}, scored.score, scored.matches, scored.best,
           ts_headline('english', name, (SELECT q FROM query), $11) AS marked_name
      FROM scored JOIN sessions USING (id)
     WHERE $4::float8 IS NULL OR (scored.score, scored.id) < ($4, $5)
     ORDER BY scored.score DESC, scored.id DESC
     LIMIT $3"""


_SNIPPETS = """
    SELECT m.session_id, m.id, m.author_id, m.created_at,
           ts_headline('english', m.content, websearch_to_tsquery('english', $3), $4) AS marked
      FROM unnest($1::text[], $2::bigint[]) AS b(session_id, id)
      JOIN messages m ON m.session_id = b.session_id AND m.id = b.id"""


async def search_sessions(
    conn: Connection,
    which: str,
    arg: object,
    text: str,
    filters: SessionFilter,
    limit: int,
    after: tuple[float, str] | None,
    marks: tuple[str, str],
) -> list[SearchHit]:
    """A page of the sessions `which` (a condition on `$1` = `arg`, written by the
    caller, never from input) chooses, not deleted, narrowed by `filters`, that match
    `text` by name or by messages, best first, after the cursor (score, id). Snippets
    are marked with `marks` (see `hub.domain.highlight_marks`)."""
    rows = await conn.fetch(
        _search_sql(which),
        arg,
        text,
        limit,
        None if after is None else after[0],
        None if after is None else after[1],
        *filter_args(filters),
        _NAME_OPTIONS.format(*marks),
    )
    if not rows:
        return []
    pairs = [(row["id"], message_id) for row in rows for message_id in row["best"]]
    snippets: dict[str, list[MessageHit]] = defaultdict(list)
    if pairs:
        found = await conn.fetch(
            _SNIPPETS,
            [session_id for session_id, _ in pairs],
            [message_id for _, message_id in pairs],
            text,
            _MESSAGE_OPTIONS.format(*marks),
        )
        by_key = {(r["session_id"], r["id"]): r for r in found}
        for key in pairs:
            r = by_key[key]
            snippets[key[0]].append(
                MessageHit(
                    id=r["id"],
                    author_id=r["author_id"],
                    created_at=r["created_at"],
                    snippet=segments(r["marked"], marks),
                )
            )
    return [
        SearchHit(
            session=row_to(row, Session),
            score=row["score"],
            name=segments(row["marked_name"], marks),
            matches=row["matches"],
            messages=snippets[row["id"]],
        )
        for row in rows
    ]
