"""`hub worker`'s job sweeper: with every web process's own sweeper idle, a worker takes
back a job whose lease ran out, and the session hears it over the Redis bus."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import msgspec
import pytest

from hub.config import Config
from hub.worker.jobs import run_sweeper
from tests.compute_helpers import claim, create_job, setup

TIMEOUT = 10.0


@pytest.mark.parametrize("config", ["redis-bus"], indirect=True)
async def test_the_worker_sweeps_a_job_whose_runner_went_quiet(
    make_client: Any, config: Config, database_url: str
) -> None:
    """A claimed job's lease runs out while the hub's sweeper sleeps: the worker's sweeper
    puts it back in the queue, once, and an observer on the hub gets the `job` event."""
    hub = await make_client(job_sweep_interval=3600.0)
    s = await setup(hub, credits=10)
    watcher = await hub.connect(s.session["obs"])
    status, job = await create_job(hub, s, estimated_cost=5)
    assert status == 201, job
    assert (await claim(hub, s.runners["main"]))["job"]["id"] == job["id"]
    db = await asyncpg.connect(database_url)
    try:
        await db.execute(
            "UPDATE compute_jobs SET lease_until = now() - interval '1 second' WHERE id = $1",
            job["id"],
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_sweeper(msgspec.structs.replace(config, job_sweep_interval=0.05), stop)
        )
        try:
            await watcher.wait(
                lambda: any(
                    f["type"] == "job" and f["job"]["status"] == "queued" and f["job"]["attempts"]
                    for f in watcher.frames
                ),
                TIMEOUT,
            )
        finally:
            stop.set()
            await asyncio.wait_for(worker, TIMEOUT)
        rows = await db.fetchval(
            "SELECT count(*) FROM activity WHERE session_id = $1 AND action = 'job.requeued'",
            s.session["id"],
        )
        assert rows == 1
    finally:
        await db.close()
