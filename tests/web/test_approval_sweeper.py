"""Expiry of approval requests. The sweeper reads only undecided requests: a request's
row in `approval_deadlines` is written with it and goes with its decision (a person's or
an expiry), so however many requests were decided, a sweep reads only the open ones; one
that can never be decided (its session completed) stops being read. A read never writes:
past its time a request reads `expired` until the sweeper records that decision."""

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


async def test_a_read_past_its_time_shows_expired_and_writes_nothing(make_client: Any) -> None:
    """Once a request's time is up, reads show it `expired` (and the pending list leaves
    it out) without writing its decision: no system message until a sweep records it,
    once, with the `approval` event."""
    client: HubClient = await make_client(approval_sweep_interval=3600.0)
    s = await client.session_with_b()
    b = await client.connect(s["b"])
    request = await ask(b, expires_in=1)
    await asyncio.sleep(1.1)  # the request's own time has to pass: nothing to wait on
    base = f"/api/sessions/{s['id']}/approvals"
    for _ in range(2):
        status, one = await client.call("GET", f"{base}/{request['id']}", token=s["obs"])
        assert status == 200 and one["status"] == "expired"
        assert one["decided_at"] is None and one["decision_message_id"] is None
        status, every = await client.call("GET", base, token=s["obs"], params={"status": "all"})
        assert [x["status"] for x in every["approvals"]] == ["expired"]
        status, pending = await client.call("GET", base, token=s["obs"])
        assert status == 200 and pending["approvals"] == []
    status, history = await client.call("GET", f"/api/sessions/{s['id']}/messages", token=s["a"])
    assert [m["id"] for m in history["messages"]] == [request["id"]]
    assert await client.server.app[HUB].approvals.expire_overdue() >= 1
    event = await b.next("approval")
    assert event["approval"]["message_id"] == request["id"]
    assert event["approval"]["status"] == "expired" and event["approval"]["decided_at"]
    status, one = await client.call("GET", f"{base}/{request['id']}", token=s["obs"])
    assert one["decision_message_id"] == event["approval"]["decision_message_id"]


async def test_a_completed_session_with_a_request_past_its_time_is_readable(
    client: HubClient,
) -> None:
    """Listing or reading the approvals of a completed session whose request's time is
    up answers 200 with it `expired` (a read tried to write the decision, and failed)."""
    s = await client.session_with_b()
    request = await ask(await client.connect(s["b"]), expires_in=1)
    status, _ = await client.call(
        "PATCH", f"/api/sessions/{s['id']}", token=s["a"], json={"status": "completed"}
    )
    assert status == 200
    await asyncio.sleep(1.1)  # the request's own time has to pass: nothing to wait on
    base = f"/api/sessions/{s['id']}/approvals"
    status, every = await client.call("GET", base, token=s["a"], params={"status": "all"})
    assert status == 200, every
    assert [x["status"] for x in every["approvals"]] == ["expired"]
    status, one = await client.call("GET", f"{base}/{request['id']}", token=s["a"])
    assert status == 200 and one["status"] == "expired"
