"""Credit pools: integer credits a person or a space owns, that sessions' jobs draw on.

A pool's `balance` is what may still be reserved; `reserved` is what queued and running
jobs hold; `spent` what finished jobs were charged. Creating a job reserves its
estimated cost (never more than the balance: `insufficient_credits`); finishing it
settles: the charge (at most the reservation) is spent, the rest released to the
balance. Every change is a ledger row whose `amount` is its change of the balance and
`reserved_change` its change of the reservations, so the sums always equal them.

Who may draw on a pool: a session whose verified agent A belongs to the person who owns
the pool, or a session in the space that owns it. Agent A names the pool; the owner's
consent is that ownership. Pure rules: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from nanoid import generate as nanoid

from hub.errors import HubError

__all__ = [
    "MAX_BALANCE",
    "MAX_CREDITS",
    "POOL_ID_PREFIX",
    "Credits",
    "LedgerEntry",
    "LedgerKind",
    "OwnerKind",
    "Pool",
    "SessionPool",
    "Settlement",
    "check_draw",
    "new_pool_id",
    "owner_ref",
    "settle",
]

POOL_ID_PREFIX = "pol_"
MAX_CREDITS = 10**15
"""The most credits one grant or one job's estimate may be (a pool's balance is a
PostgreSQL bigint: sums far below its limit)."""
MAX_BALANCE = 10**18
"""The most credits a pool holds (below PostgreSQL's bigint limit); a grant past it is
`bad_request`."""
Credits = Annotated[int, msgspec.Meta(ge=0, le=MAX_CREDITS)]
LedgerKind = Literal["grant", "reserve", "settle", "release", "refund"]
OwnerKind = Literal["user", "space"]


def new_pool_id() -> str:
    return POOL_ID_PREFIX + str(nanoid(size=21))


class Pool(msgspec.Struct, kw_only=True):
    """A pool as its owners (and the sessions drawing on it) see it."""

    id: str
    name: str
    owner_kind: OwnerKind
    owner: str
    """The owning person's username, or the owning space's slug."""
    balance: int
    """Credits that may still be reserved."""
    reserved: int
    """Credits queued and running jobs hold."""
    spent: int
    """Credits finished jobs were charged (less refunds)."""
    created_at: datetime
    updated_at: datetime


class SessionPool(msgspec.Struct, kw_only=True):
    """The pool a session draws on, as its participants see it."""

    session_id: str
    pool: Pool
    set_by: str
    set_at: datetime


class LedgerEntry(msgspec.Struct, kw_only=True):
    """One change of a pool: `amount` is its change of the balance, `reserved_change`
    of the reservations (grant +n/0, reserve -n/+n, settle 0/-charged, release +n/-n,
    refund +n/0)."""

    id: int
    pool_id: str
    kind: LedgerKind
    amount: int
    reserved_change: int
    balance_after: int
    job_id: str | None
    actor: str
    note: str
    created_at: datetime


class Settlement(msgspec.Struct, frozen=True):
    """How a finished job's reservation ends: `charged` is spent, `released` returns to
    the balance; together they are the reservation."""

    charged: int
    released: int


def settle(reserved: int, charge: int) -> Settlement:
    """Charge up to the reservation (a negative charge is none), release the rest."""
    charged = min(max(charge, 0), reserved)
    return Settlement(charged=charged, released=reserved - charged)


def owner_ref(user_id: str | None, space_id: str | None) -> str:
    """How a job names whose runners serve it: `user:<id>` or `space:<id>`."""
    return f"user:{user_id}" if user_id is not None else f"space:{space_id}"


def check_draw(
    *,
    pool_user_id: str | None,
    pool_space_id: str | None,
    agent_a_owner_id: str | None,
    session_space_id: str | None,
) -> None:
    """Raise `forbidden` unless a session may draw on the pool: the pool is the person's
    whose verified agent A runs the session, or the space's the session is in."""
    if pool_user_id is not None and pool_user_id == agent_a_owner_id:
        return
    if pool_space_id is not None and pool_space_id == session_space_id:
        return
    raise HubError(
        "forbidden",
        "a session draws only on a pool of its verified agent A's owner, or of its space",
    )
