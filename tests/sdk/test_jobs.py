"""The SDK's compute side: pools, jobs and a `Runner` that claims, heartbeats, logs and
reports; a runner process killed with SIGKILL mid-job loses its lease and another
runner completes the job; a lease lost under a running handler cancels it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from typing import Any

import asyncpg
import pytest

from hub.client import (
    HubAPI,
    HubClientError,
    InsufficientCredits,
    LeaseLost,
    Result,
    Runner,
    RunningJob,
)
from hub.client import connect as connect_session
from hub.protocol import JobEvent, JobLogEvent
from tests.compute_helpers import ledger_matches, runner_key, setup
from tests.helpers import HubClient

TIMEOUT = 15.0

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from hub.client import Runner

    async def hold(job):
        await job.progress(10, "started")
        await asyncio.Event().wait()  # works until killed

    asyncio.run(Runner(sys.argv[1], sys.argv[2]).run(hold))
    """
)


@pytest.fixture
async def db(database_url: str) -> Any:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def test_a_runner_in_ten_lines_runs_jobs_and_the_session_sees_them(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """The Runner claims two jobs in turn: one succeeds with its output, log lines and
    a cost, the other fails with the handler's exception; the session's events show it."""
    s = await setup(client, credits=100)
    sid = s.session["id"]

    async def echo(job: RunningJob) -> Any:
        if job.input.get("fail"):
            raise RuntimeError("asked to fail")
        await job.progress(50, "halfway", used=3)
        for i in range(150):
            job.log(f"line {i}")
        return Result(output={"echo": job.input["text"]}, cost=7)

    async with HubAPI(client.base) as rest, connect_session(client.base, s.session["obs"]) as obs:
        a, b = s.session["a"], s.session["b"]
        first = await rest.create_job(sid, a, "echo", {"text": "hi"}, estimated_cost=10)
        second = await rest.create_job(sid, b, "echo", {"fail": True}, estimated_cost=5)
        with pytest.raises(InsufficientCredits):
            await rest.create_job(sid, s.session["a"], "echo", estimated_cost=1000)
        runner = Runner(client.base, s.runners["main"], kinds=["echo"])
        running = asyncio.create_task(runner.run(echo))
        ended: dict[str, Any] = {}
        logged = 0
        async with asyncio.timeout(TIMEOUT):
            async for event in obs:
                if isinstance(event, JobLogEvent):
                    logged += len(event.entries)
                if isinstance(event, JobEvent) and event.job.finished_at is not None:
                    ended[event.job.id] = event.job
                    if len(ended) == 2:
                        break
        runner.stop()
        await asyncio.wait_for(running, TIMEOUT)
        assert runner.done == 2
        done, failed = ended[first.id], ended[second.id]
        assert (done.status, done.output, done.cost_charged) == ("succeeded", {"echo": "hi"}, 7)
        assert (failed.status, failed.error, failed.cost_charged) == ("failed", "asked to fail", 0)
        entries = await rest.job_log(sid, s.session["obs"], first.id, limit=1000)
        assert [e.seq for e in entries] == list(range(1, 151)) and logged == 150
        pool = await rest.pool(s.user, s.pool)
        assert (pool.balance, pool.reserved, pool.spent) == (93, 0, 7)
    await ledger_matches(db, s.pool)


async def test_a_runner_killed_mid_job_loses_it_and_another_runner_completes_it(
    make_client: Any, db: asyncpg.Connection
) -> None:
    """A runner process (the SDK's Runner) is SIGKILLed while it holds a job: its lease
    runs out, the job goes back to the queue once, and a second runner finishes it as
    attempt 2."""
    hub = await make_client(job_lease_seconds=1.0, job_sweep_interval=0.1)
    s = await setup(hub, credits=50)
    sid = s.session["id"]
    async with HubAPI(hub.base) as rest, connect_session(hub.base, s.session["obs"]) as obs:
        job = await rest.create_job(sid, s.session["a"], "echo", {"n": 1}, estimated_cost=20)
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, hub.base, s.runners["main"]
        )
        try:
            async with asyncio.timeout(TIMEOUT):
                async for event in obs:
                    if isinstance(event, JobEvent) and event.job.progress == 10:
                        break
            os.kill(child.pid, signal.SIGKILL)
            assert await asyncio.wait_for(child.wait(), TIMEOUT) == -signal.SIGKILL
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        async with asyncio.timeout(TIMEOUT):
            async for event in obs:
                if isinstance(event, JobEvent) and event.job.status == "queued":
                    assert event.job.attempts == 1
                    break

        async def finish(running: RunningJob) -> Any:
            return {"attempt": running.attempt}

        second = Runner(hub.base, await runner_key(hub, s.user, ["echo"], name="second"))
        task = asyncio.create_task(second.run(finish))
        async with asyncio.timeout(TIMEOUT):
            async for event in obs:
                if isinstance(event, JobEvent) and event.job.status == "succeeded":
                    break
        second.stop()
        await asyncio.wait_for(task, TIMEOUT)
        done = await rest.job(sid, s.session["obs"], job.id)
        assert (done.attempts, done.output, done.cost_charged) == (2, {"attempt": 2}, 20)
    requeued = await db.fetchval(
        "SELECT count(*) FROM activity WHERE session_id = $1 AND action = 'job.requeued'", sid
    )
    assert requeued == 1
    await ledger_matches(db, s.pool)


async def test_a_cancelled_job_cancels_the_handler_holding_it(make_client: Any) -> None:
    """An agent cancels a running job: the runner's next heartbeat learns the lease is
    lost and cancels its handler, which reports nothing."""
    hub = await make_client(job_lease_seconds=0.6)
    s = await setup(hub, credits=10)
    sid = s.session["id"]
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def hold(job: RunningJob) -> Any:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with HubAPI(hub.base) as rest:
        job = await rest.create_job(sid, s.session["a"], "echo", estimated_cost=4)
        runner = Runner(hub.base, s.runners["main"])
        task = asyncio.create_task(runner.run(hold))
        await asyncio.wait_for(started.wait(), TIMEOUT)
        await rest.cancel_job(sid, s.session["a"], job.id)
        await asyncio.wait_for(cancelled.wait(), TIMEOUT)
        with pytest.raises(LeaseLost):
            await rest.heartbeat(s.runners["main"], job.id, 1)
        runner.stop()
        await asyncio.wait_for(task, TIMEOUT)
        assert runner.done == 0
        assert (await rest.job(sid, s.session["obs"], job.id)).status == "cancelled"


async def test_a_runner_reads_the_input_attachments_of_the_job_it_holds(
    client: HubClient,
) -> None:
    """A job names an upload of its session: the runner holding it downloads the bytes;
    another upload of the session, or the job once finished, is refused."""
    s = await setup(client, credits=10)
    sid = s.session["id"]
    async with HubAPI(client.base) as rest:
        given = await rest.upload_attachment(sid, s.session["a"], b"MKTAYIAKQR", name="seq.fasta")
        other = await rest.upload_attachment(sid, s.session["a"], b"other", name="x.txt")
        job = await rest.create_job(sid, s.session["a"], "echo", attachments=[given.id])
        seen: dict[str, Any] = {}

        async def read(running: RunningJob) -> Any:
            seen["bytes"] = await running.attachment(given.id)
            with pytest.raises(HubClientError) as refused:
                await running.attachment(other.id)
            seen["other"] = refused.value.code
            return {"length": len(seen["bytes"])}

        runner = Runner(client.base, s.runners["main"])
        async with connect_session(client.base, s.session["obs"]) as obs:
            task = asyncio.create_task(runner.run(read))
            async with asyncio.timeout(TIMEOUT):
                async for event in obs:
                    if isinstance(event, JobEvent) and event.job.finished_at is not None:
                        break
        runner.stop()
        await asyncio.wait_for(task, TIMEOUT)
        assert seen == {"bytes": b"MKTAYIAKQR", "other": "not_found"}
        with pytest.raises(LeaseLost):
            await rest.input_attachment(s.runners["main"], job.id, 1, given.id)
