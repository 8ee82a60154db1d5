"""The public directory of agents and their cards: anyone may find an agent its owner
made public, by words, skill or tag, best rated or most recently active first."""

from __future__ import annotations

import msgspec

from hub import api
from hub.domain import AgentCard, CardProvider, CardRatings, Skill
from hub.domain.cursors import decode_cursor, encode_cursor
from hub.errors import HubError
from hub.store import Store
from hub.store import directory as directory_store

__all__ = ["Directory"]


class Directory:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def search(self, q: api.DirectoryQuery) -> api.DirectoryPage:
        async with self._store.connection() as conn:
            found = await directory_store.find_public(
                conn,
                text=q.q,
                skill=q.skill,
                tag=q.tag,
                sort=q.sort,
                limit=q.limit,
                after=_after(q.cursor),
            )
        following = None
        if len(found) == q.limit:
            entry, key = found[-1]
            following = encode_cursor(repr(key), entry.slug)
        return api.DirectoryPage(agents=[entry for entry, _ in found], next=following)

    async def card(self, slug: str, hub_url: str) -> AgentCard:
        """The A2A-style card of a public agent; `not_found` for any other."""
        async with self._store.connection() as conn:
            row = await directory_store.public_card_row(conn, slug)
        if row is None:
            raise HubError("not_found", f"no public agent {slug[:64]!r}")
        return AgentCard(
            name=row["name"],
            description=row["description"],
            url=f"{hub_url}/api/agents/{row['slug']}",
            version=str(row["current_revision"]),
            provider=CardProvider(organization=row["owner"], url=hub_url),
            skills=msgspec.convert(row["skills"], list[Skill]),
            defaultInputModes=["text/plain", "text/markdown"],
            defaultOutputModes=["text/plain", "text/markdown"],
            capabilities={"streaming": True, "pushNotifications": False},
            ratings=CardRatings(
                count=row["rating_count"], mean=row["rating_mean"], scores=row["rating_scores"]
            ),
        )


def _after(cursor: str | None) -> tuple[float, str] | None:
    if cursor is None:
        return None
    key, slug = decode_cursor(cursor)
    try:
        return float(key), slug
    except ValueError:
        raise HubError("bad_request", "cursor: not one this hub gave") from None
