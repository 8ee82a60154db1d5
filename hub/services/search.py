"""Full-text search over session names and message content, scoped strictly to what the
caller may read: the public directory (anyone), one's own sessions (a user key), or one
space's sessions (a member of it; to anyone else the space does not exist)."""

from __future__ import annotations

from hub import api
from hub.config import Config
from hub.domain import UserPrincipal, check_search_text, highlight_marks
from hub.domain.cursors import decode_cursor, encode_cursor
from hub.errors import HubError
from hub.services.access import Access
from hub.services.spaces import readable_space
from hub.store import Store
from hub.store import search as search_store
from hub.store import sessions as session_store

__all__ = ["Search"]


class Search:
    def __init__(self, config: Config, store: Store, access: Access) -> None:
        self._config = config
        self._store = store
        self._access = access

    async def search(
        self, who: UserPrincipal | None, q: api.SearchQuery, client_key: str
    ) -> api.SearchPage:
        """The sessions in scope matching `q.q` by name or by messages, best first: a
        session whose name and messages match more ranks higher. `mine` and `space`
        need a user key (`unauthorized`); a space one is not a member of is
        `not_found`. Without a user key, rate-limited per client address
        (`client_key`)."""
        text = check_search_text(q.q or "")
        after = _after(q.cursor)
        if q.scope != "public" and who is None:
            raise HubError("unauthorized", f"scope={q.scope} needs a user key (usr_…)")
        if who is None:
            await self._access.limit(
                "search",
                client_key,
                self._config.anonymous_searches_per_minute,
                "too many searches from your address; wait a minute, or search with a user key",
            )
        marks = highlight_marks()
        async with self._store.connection() as conn:
            which: str
            arg: object
            if q.scope == "public":
                which, arg = session_store.PUBLIC, False
            elif q.scope == "mine":
                assert who is not None
                which, arg = session_store.OF_USER, who.user_id
            else:
                assert who is not None and q.space is not None
                which, arg = (
                    session_store.IN_SPACE,
                    await readable_space(conn, q.space, who.user_id),
                )
            hits, capped = await search_store.search_sessions(
                conn, which, arg, text, q.filters(), q.limit, after, marks
            )
        last = hits[-1] if len(hits) == q.limit else None
        return api.SearchPage(
            results=hits,
            next=None if last is None else encode_cursor(repr(last.score), last.session.id),
            capped=capped,
        )


def _after(cursor: str | None) -> tuple[float, str] | None:
    if cursor is None:
        return None
    key, session_id = decode_cursor(cursor)
    try:
        score = float(key)
    except ValueError:
        score = float("nan")
    if score != score or score in (float("inf"), float("-inf")):
        raise HubError("bad_request", "cursor: not one this hub gave")
    return score, session_id
