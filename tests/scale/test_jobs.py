"""Compute across real `hub serve` processes on one PostgreSQL: hundreds of concurrent
reservations never overdraw a pool, and leases that run out are taken back exactly once
while two processes sweep and runners claim on both."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp import ClientSession

from tests.compute_helpers import claim, create_job, ledger_matches, report, runner_key, setup
from tests.scale.conftest import client_for

TIMEOUT = 30.0


async def test_two_hundred_reservations_on_two_processes_never_overdraw(
    hubs: Any, http: ClientSession, postgres: Any
) -> None:
    """200 concurrent jobs of 3 credits, half through each process, against a pool of
    111: exactly 37 are queued, 163 get 402 insufficient_credits; the balance is 0 and
    equals the ledger's sum."""
    p1, p2 = await hubs(2)
    c1, c2 = client_for(http, p1), client_for(http, p2)
    s = await setup(c1, credits=111)
    answers = await asyncio.gather(
        *(create_job(c1 if i % 2 else c2, s, estimated_cost=3) for i in range(200))
    )
    statuses = [status for status, _ in answers]
    assert statuses.count(201) == 37, sorted(set(statuses))
    assert statuses.count(402) == 163
    assert {a["code"] for status, a in answers if status == 402} == {"insufficient_credits"}
    db = await asyncpg.connect(postgres.url)
    try:
        assert await ledger_matches(db, s.pool) == {"balance": 0, "reserved": 111, "spent": 0}
        queued = await db.fetchval(
            "SELECT count(*) FROM compute_jobs WHERE pool_id = $1 AND status = 'queued'", s.pool
        )
        assert queued == 37
    finally:
        await db.close()


async def test_expired_leases_return_once_while_two_processes_sweep(
    hubs: Any, http: ClientSession, postgres: Any
) -> None:
    """20 jobs claimed through both processes, never heartbeaten: both processes'
    sweepers run, yet each job goes back to the queue once (one job.requeued row each);
    runners on both processes then claim each exactly once as attempt 2 and finish it."""
    p1, p2 = await hubs(2, HUB_JOB_LEASE_SECONDS="1", HUB_JOB_SWEEP_INTERVAL="0.05")
    c1, c2 = client_for(http, p1), client_for(http, p2)
    s = await setup(c1, credits=1000)
    keys = [s.runners["main"], *[await runner_key(c1, s.user, ["echo"]) for _ in range(3)]]
    watcher = await c2.connect(s.session["obs"])
    made = await asyncio.gather(*(create_job(c1, s, estimated_cost=5) for _ in range(20)))
    ids = sorted(job["id"] for _, job in made)
    first = await asyncio.gather(*(claim(c1 if i % 2 else c2, keys[i % 4]) for i in range(20)))
    assert sorted(c["job"]["id"] for c in first) == ids

    def all_back() -> bool:
        back = {
            f["job"]["id"]
            for f in watcher.frames
            if f["type"] == "job" and f["job"]["status"] == "queued" and f["job"]["attempts"] == 1
        }
        return back == set(ids)

    await watcher.wait(all_back, TIMEOUT)
    db = await asyncpg.connect(postgres.url)
    try:
        rows = await db.fetch(
            "SELECT detail->>'job_id' AS id FROM activity"
            " WHERE session_id = $1 AND action = 'job.requeued'",
            s.session["id"],
        )
        assert sorted(r["id"] for r in rows) == ids

        async def take(i: int) -> list[Any]:
            hub, key, taken = (c1 if i % 2 else c2), keys[i % 4], []
            while (got := await claim(hub, key)) is not None:
                taken.append(got)
                status, _ = await report(
                    hub, key, got["job"]["id"], "result", attempt=got["attempt"],
                    status="succeeded", cost=2,
                )  # fmt: skip
                assert status == 200
            return taken

        second = [c for batch in await asyncio.gather(*(take(i) for i in range(8))) for c in batch]
        assert sorted(c["job"]["id"] for c in second) == ids
        assert {c["attempt"] for c in second} == {2}
        assert await ledger_matches(db, s.pool) == {"balance": 960, "reserved": 0, "spent": 40}
    finally:
        await db.close()
