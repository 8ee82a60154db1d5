"""The approval sweeper reads only undecided requests: a request's row in
`approval_deadlines` is written with it and goes with its decision (a person's or an
expiry), so however many requests were decided, a sweep reads only the open ones; one
that can never be decided (its session completed) stops being read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from hub.web.keys import HUB
from tests.helpers import HubClient
from tests.web.test_approvals import ask, decide


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def swept(db: asyncpg.Connection, session_id: str) -> list[int]:
    """The session's requests the sweeper reads: those in `approval_deadlines`."""
    rows = await db.fetch(
        "SELECT message_id FROM approval_deadlines WHERE session_id = $1 ORDER BY message_id",
        session_id,
    )
    return [r["message_id"] for r in rows]


async def test_the_sweeper_reads_only_undecided_requests(
    make_client: Any, db: asyncpg.Connection
) -> None:
    """A decided request leaves what the sweeper reads at once; the undecided ones are
    there until a sweep decides them `expired`, and then leave too."""
    client: HubClient = await make_client(approval_sweep_interval=3600.0)
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    asked = [(await ask(b, f"step {i}", expires_in=1))["id"] for i in range(4)]
    assert await swept(db, s["id"]) == asked
    assert (await a.request(decide(asked[0])))["type"] != "error"
    assert (await a.request(decide(asked[2], "rejected")))["type"] != "error"
    assert await swept(db, s["id"]) == [asked[1], asked[3]]
    await asyncio.sleep(1.1)  # the requests' own time has to pass: nothing to wait on
    approvals = client.server.app[HUB].approvals
    assert await approvals.expire_overdue() >= 2
    assert await swept(db, s["id"]) == []
    status, listed = await client.call(
        "GET", f"/api/sessions/{s['id']}/approvals", token=s["a"], params={"status": "all"}
    )
    assert status == 200
    statuses = [x["status"] for x in listed["approvals"]]
    assert statuses == ["approved", "expired", "rejected", "expired"]


async def test_a_request_of_a_completed_session_stops_being_swept(
    make_client: Any, db: asyncpg.Connection
) -> None:
    """A request left undecided when its session completed can never be decided: the
    first sweep after its time stops reading it (it would otherwise be read, and fail,
    every sweep); requests of open sessions still expire."""
    client: HubClient = await make_client(approval_sweep_interval=3600.0)
    done, open_ = await client.session_with_b(), await client.session_with_b()
    stuck = await ask(await client.connect(done["b"]), expires_in=1)
    due = await ask(await client.connect(open_["b"]), expires_in=1)
    status, _ = await client.call(
        "PATCH", f"/api/sessions/{done['id']}", token=done["a"], json={"status": "completed"}
    )
    assert status == 200
    assert await swept(db, done["id"]) == [stuck["id"]]
    await asyncio.sleep(1.1)  # the requests' own time has to pass: nothing to wait on
    await client.server.app[HUB].approvals.expire_overdue()
    assert await swept(db, done["id"]) == []
    assert await swept(db, open_["id"]) == []
    status, read = await client.call(
        "GET", f"/api/sessions/{open_['id']}/approvals/{due['id']}", token=open_["a"]
    )
    assert status == 200 and read["status"] == "expired"
