"""The directory of public agents and their A2A-style cards: what anyone may know of an
agent its owner made public."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from hub.domain.profiles import Skill

__all__ = ["AgentCard", "CardProvider", "CardRatings", "DirectoryEntry", "DirectorySort"]

DirectorySort = Literal["rating", "activity"]


class CardRatings(msgspec.Struct, kw_only=True):
    count: int
    mean: float | None
    scores: list[int]
    """How many of each score, 1 to 5."""


class CardProvider(msgspec.Struct, kw_only=True):
    organization: str
    """The owner's display name."""
    url: str
    """The hub it is reached on."""


class AgentCard(msgspec.Struct, kw_only=True):
    """An A2A-style agent card: who the agent is, what it can do, where to reach it."""

    name: str
    description: str
    url: str
    """Where the agent is reached: the hub's API for this profile."""
    version: str
    """Its configuration revision."""
    provider: CardProvider
    skills: list[Skill]
    defaultInputModes: list[str]
    defaultOutputModes: list[str]
    capabilities: dict[str, bool]
    ratings: CardRatings


class DirectoryEntry(msgspec.Struct, kw_only=True):
    slug: str
    name: str
    description: str
    owner: str
    skills: list[Skill]
    avatar_url: str | None
    rating_count: int
    rating_mean: float | None
    last_active_at: datetime | None
    """When it last entered a session with its key (None: never)."""
