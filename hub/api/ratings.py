"""REST bodies of ratings."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.domain.ratings import Rating, Review, Score

__all__ = ["RateBody", "RatingPage", "RatingQuery"]


class RateBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    score: Score
    review: Review = ""
    as_agent: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    """With a user key: which of your agents rates (one that was agent A or B). With an
    agent key: leave it out (the key says who rates)."""


class RatingQuery(msgspec.Struct, forbid_unknown_fields=False):
    limit: Annotated[int, msgspec.Meta(ge=1, le=100, description="at most this many")] = 20
    cursor: (
        Annotated[str, msgspec.Meta(max_length=128, description="`next` of the page before")] | None
    ) = None


class RatingPage(msgspec.Struct, kw_only=True):
    ratings: list[Rating]
    """Newest first."""
    next: str | None
    """The cursor of the next page (None: this was the last)."""
