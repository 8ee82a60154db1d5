"""Full-text search over session names and message content (PostgreSQL, the english
configuration; see sql/0014_search.sql for the indexes), ranked, with highlighted
snippets, among the sessions a condition written by the caller chooses."""

from __future__ import annotations

from collections import defaultdict

from hub.domain import MessageHit, SearchHit, Session, SessionFilter, segments
from hub.store import Connection, row_to
from hub.store.sessions import COLUMNS, filter_args, filter_condition

__all__ = ["BEST_MESSAGES", "MAX_MATCHES", "search_sessions"]

BEST_MESSAGES = 3
"""How many of a found session's messages are shown, best first."""
MAX_MATCHES = 10_000
"""The most matching messages one search ranks: a word in more is too common to rank
on, and reading them all would take seconds (BENCHMARKS.md, "search")."""

_NAME_OPTIONS = "HighlightAll=true, StartSel={0}, StopSel={1}"
_MESSAGE_OPTIONS = "MaxWords=35, MinWords=15, ShortWord=3, StartSel={0}, StopSel={1}"


def _search_sql(which: str) -> str:
    """Sessions matching `$2` (a `websearch_to_tsquery` text) by name or by messages,
    among those `which` chooses ($1) narrowed by the filters ($6 to $10), best first,
    after the cursor (score $4, id $5), at most $3; each with its name highlighted ($11:
    the `ts_headline` options), the ids of its best messages and how many matching
    messages were ranked in all (at most `MAX_MATCHES`, the first found). The matching
    messages are ranked once, into narrow rows, before they are grouped by session."""
    chosen = f"{which} AND deleted_at IS NULL AND {filter_condition(6)}"
    query = "websearch_to_tsquery('english', $2)"
    return f"""
    WITH hits AS MATERIALIZED (
        SELECT m.session_id, m.id, ts_rank(m.search, {query}) AS r
          FROM messages m
         WHERE m.search @@ {query}
           AND m.session_id IN (SELECT id FROM sessions WHERE {chosen})
         LIMIT {MAX_MATCHES}
    ),
    said AS (
        SELECT session_id AS id, sum(r) AS r, count(*) AS n,
               (array_agg(id ORDER BY r DESC, id DESC))[1:{BEST_MESSAGES}] AS best
          FROM hits GROUP BY session_id
    ),
    named AS (
        SELECT id, ts_rank(to_tsvector('english', name), {query}) AS r
          FROM sessions
         WHERE to_tsvector('english', name) @@ {query} AND {chosen}
    ),
    scored AS (
        SELECT coalesce(named.id, said.id) AS id,
               (2 * coalesce(named.r, 0) + coalesce(said.r, 0))::float8 AS score,
               coalesce(said.n, 0) AS matches, coalesce(said.best, '{{}}') AS best
          FROM named FULL JOIN said ON said.id = named.id
    ),
    page AS (
        SELECT * FROM scored
         WHERE $4::float8 IS NULL OR (score, id) < ($4, $5)
         ORDER BY score DESC, id DESC
         LIMIT $3
    )
    SELECT {COLUMNS}, page.score, page.matches, page.best,
           (SELECT count(*) FROM hits) AS ranked,
           ts_headline('english', name, {query}, $11) AS marked_name
      FROM page JOIN sessions USING (id)
     ORDER BY page.score DESC, page.id DESC"""


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
) -> tuple[list[SearchHit], bool]:
    """A page of the sessions `which` (a condition on `$1` = `arg`, written by the
    caller, never from input) chooses, not deleted, narrowed by `filters`, that match
    `text` by name or by messages, best first, after the cursor (score, id). Snippets
    are marked with `marks` (see `hub.domain.highlight_marks`). Also says whether
    there were more matching messages than one search ranks (`MAX_MATCHES`)."""
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
        return [], False
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
    hits = [
        SearchHit(
            session=row_to(row, Session),
            score=row["score"],
            name=segments(row["marked_name"], marks),
            matches=row["matches"],
            messages=snippets[row["id"]],
        )
        for row in rows
    ]
    return hits, rows[0]["ranked"] >= MAX_MATCHES
