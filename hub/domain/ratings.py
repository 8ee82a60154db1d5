"""Ratings: after a session, each of its two verified agents may rate the other, once
(1 to 5, with an optional review), and change it later. Nobody else rates: not an
observer, not a third profile, not the profile itself, not for a session the two did
not share."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from hub.errors import HubError

__all__ = ["MAX_REVIEW_CHARS", "Rating", "Review", "Score", "rating_pair"]

MAX_REVIEW_CHARS = 2000
Score = Annotated[int, msgspec.Meta(ge=1, le=5)]
Review = Annotated[str, msgspec.Meta(max_length=MAX_REVIEW_CHARS)]


class Rating(msgspec.Struct, kw_only=True):
    session_id: str
    rater: str
    """The rating agent's slug."""
    ratee: str
    """The rated agent's slug."""
    score: int
    review: str
    created_at: datetime
    updated_at: datetime


def rating_pair(rater_id: str, status: str, agent_a_id: str | None, agent_b_id: str | None) -> str:
    """The profile `rater_id` may rate for a session (the other verified agent), or the
    reason it may not: only a completed session whose agents A and B were both verified
    profiles, and only by one of the two."""
    if agent_a_id is None or agent_b_id is None:
        raise HubError("forbidden", "only sessions between two verified agents are rated")
    if rater_id not in (agent_a_id, agent_b_id):
        raise HubError("forbidden", "only the session's two agents rate each other")
    if status != "completed":
        raise HubError("invalid_transition", "a session is rated once it is completed")
    return agent_b_id if rater_id == agent_a_id else agent_a_id
