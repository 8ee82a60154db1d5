"""Ratings: an agent rates the other verified agent of a completed session it shared,
once (changing it later), through its agent key or its owner's user key; anyone who may
see a profile may read the ratings it received. The profile's aggregates follow in the
same transaction (a trigger), exact under concurrent ratings. Nobody withdraws a rating
through the API; an operator deletes one with `hub ratings delete` (`delete`)."""

from __future__ import annotations

from hub import api
from hub.domain import AgentPrincipal, Rating, UserPrincipal, rating_pair
from hub.domain.cursors import decode_time_cursor, encode_time_cursor
from hub.domain.webhooks import RatingEvent
from hub.errors import HubError
from hub.services.profiles import Profiles, agent_for_key
from hub.store import Connection, Store, changes
from hub.store import profiles as profile_store
from hub.store import ratings as rating_store

__all__ = ["Ratings"]


class Ratings:
    def __init__(self, store: Store, profiles: Profiles) -> None:
        self._store = store
        self._profiles = profiles

    async def rate(
        self,
        session_id: str,
        req: api.RateBody,
        *,
        agent_key: str | None,
        who: UserPrincipal | None,
    ) -> tuple[Rating, bool]:
        """Rate (or re-rate) the other agent of `session_id`; returns the rating and
        whether it is new."""
        async with self._store.transaction() as conn:
            actor, rater_id, owner_id = await self._rater(conn, req, agent_key, who)
            status, a_id, b_id = await rating_store.rated_session(conn, session_id)
            ratee_id = rating_pair(rater_id, status, a_id, b_id)
            rating, created = await rating_store.save_rating(
                conn, session_id, rater_id, ratee_id, req.score, req.review
            )
            await changes.audit(
                conn,
                actor,
                owner_id,
                "rating.given" if created else "rating.changed",
                {"session_id": session_id, "ratee": rating.ratee, "score": req.score},
            )
            if created:
                await changes.outbox(conn, session_id, "rating.created", RatingEvent(rating=rating))
        return rating, created

    async def delete(self, session_id: str, rater: str) -> Rating:
        """Delete the rating agent `rater` gave in `session_id` (an operator's act, with
        no principal: it has no route); the ratee's aggregates follow, and the rater's
        and the ratee's owners each get an audit row, in the same transaction.
        `not_found` if there is no such rating."""
        async with self._store.transaction() as conn:
            found = await rating_store.delete_rating(conn, session_id, rater)
            if found is None:
                raise HubError(
                    "not_found", f"agent {rater[:64]!r} gave no rating in {session_id[:64]}"
                )
            rating, rater_owner, ratee_owner = found
            detail = {
                "session_id": session_id,
                "rater": rating.rater,
                "ratee": rating.ratee,
                "score": rating.score,
            }
            for owner in dict.fromkeys((rater_owner, ratee_owner)):
                await changes.audit(conn, changes.OPERATOR, owner, "rating.deleted", detail)
        return rating

    async def _rater(
        self,
        conn: Connection,
        req: api.RateBody,
        agent_key: str | None,
        who: UserPrincipal | None,
    ) -> tuple[AgentPrincipal | UserPrincipal, str, str]:
        """Who rates: (the actor, the rating profile's id, its owner's user id)."""
        if agent_key is not None:
            if req.as_agent is not None:
                raise HubError("bad_request", "with an agent key, leave as_agent out")
            agent = await agent_for_key(conn, agent_key)
            return agent, agent.profile_id, agent.owner_id
        if who is None:
            raise HubError("unauthorized", "an agent key or a user key is required")
        if req.as_agent is None:
            raise HubError("bad_request", "with a user key, name your agent in as_agent")
        found = await profile_store.find_profile(conn, req.as_agent)
        if found is None or found[1] != who.user_id:
            raise HubError("not_found", f"you have no agent {req.as_agent[:64]!r}")
        return who, found[0].id, who.user_id

    async def received(
        self, who: UserPrincipal, slug: str, limit: int, cursor: str | None
    ) -> api.RatingPage:
        """The ratings a profile the caller may see received, newest first."""
        profile = await self._profiles.get(who, slug)
        async with self._store.connection() as conn:
            page = await rating_store.list_ratings(
                conn, profile.id, limit, decode_time_cursor(cursor)
            )
        last = page[-1] if len(page) == limit else None
        following = encode_time_cursor(last.created_at, last.session_id) if last else None
        return api.RatingPage(ratings=page, next=following)
