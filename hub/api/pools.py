"""REST bodies of credit pools: create one, top it up, read its ledger, and the pool a
session draws on."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.domain.pools import MAX_CREDITS, LedgerEntry, Pool
from hub.domain.spaces import SPACE_REF_PATTERN

__all__ = [
    "Grant",
    "LedgerPage",
    "LedgerQuery",
    "NewPool",
    "PoolList",
    "Refund",
    "SetSessionPool",
]

PoolId = Annotated[str, msgspec.Meta(pattern=r"^pol_[A-Za-z0-9_-]{21}$")]


class NewPool(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A pool of yours, or, with `space`, of a space you own (it starts empty: grant)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    space: Annotated[str, msgspec.Meta(max_length=80, pattern=SPACE_REF_PATTERN)] | None = None


class PoolList(msgspec.Struct, kw_only=True):
    pools: list[Pool]


class Grant(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Top a pool up by `amount` credits (a `grant` ledger row)."""

    amount: Annotated[int, msgspec.Meta(ge=1, le=MAX_CREDITS)]
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class Refund(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Give back `amount` credits of what a finished job of this pool was charged."""

    job_id: Annotated[str, msgspec.Meta(pattern=r"^job_[A-Za-z0-9_-]{21}$")]
    amount: Annotated[int, msgspec.Meta(ge=1, le=MAX_CREDITS)]
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class LedgerQuery(msgspec.Struct, forbid_unknown_fields=False):
    """Query of GET /pools/{pool_id}/ledger."""

    before: (
        Annotated[int, msgspec.Meta(ge=1, le=2**62, description="entries older than this id")]
        | None
    ) = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=500, description="at most this many")] = 100


class LedgerPage(msgspec.Struct, kw_only=True):
    entries: list[LedgerEntry]
    """Newest first."""
    next_before: int | None
    """Pass as `before` for the next (older) page; null when this page is the last."""


class SetSessionPool(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The pool the session's jobs draw on from now on (agent A)."""

    pool_id: PoolId
