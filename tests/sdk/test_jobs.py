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
    OutputArtifact,
    Result,
    Runner,
    RunningJob,
)
from hub.client import connect as connect_session
from hub.domain.artifacts import JsonArtifact
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


async def test_a_runner_uploads_output_files_and_the_agent_downloads_them(
    client: HubClient,
) -> None:
    """A Runner's handler uploads a file and makes an artifact: the job's output names
    them, the hub's system message announcing the end carries both, and agent A
    downloads the file's bytes."""
    s = await setup(client, credits=10)
    sid, a = s.session["id"], s.session["a"]
    async with HubAPI(client.base) as rest:
        job = await rest.create_job(sid, a, "echo", {"n": 1})

        async def fold(running: RunningJob) -> Any:
            made = await running.upload(b"ATOM 1 N MET", name="model.pdb")
            table = OutputArtifact(title="scores", data=JsonArtifact(value={"plddt": 91}))
            return Result(output={"ok": True}, attachments=[made.id], new_artifacts=[table])

        runner = Runner(client.base, s.runners["main"])
        async with connect_session(client.base, s.session["obs"]) as obs:
            task = asyncio.create_task(runner.run(fold))
            async with asyncio.timeout(TIMEOUT):
                async for event in obs:
                    if isinstance(event, JobEvent) and event.job.finished_at is not None:
                        ended = event.job
                        break
        runner.stop()
        await asyncio.wait_for(task, TIMEOUT)
        assert ended.id == job.id and ended.status == "succeeded"
        (file_id,) = ended.output_attachments
        assert await rest.download_attachment(sid, a, file_id) == b"ATOM 1 N MET"
        uploaded = await rest.attachment(sid, a, file_id)
        assert uploaded.name == "model.pdb" and uploaded.uploader.startswith("rkey_")
        (artifact_id,) = ended.output_artifacts
        page = await rest.history(sid, a)
        announced = page.messages[-1]
        assert announced.author_role == "system" and announced.msg_type == "system"
        assert announced.content == f"job {job.id} (echo) succeeded: 1 file, 1 artifact"
        assert announced.attachment_ids == [file_id]
        assert announced.metadata["job"] == {"id": job.id, "kind": "echo", "status": "succeeded"}
        gallery = await rest.artifacts(sid, a, message_id=announced.id)
        assert [x.id for x in gallery.artifacts] == [artifact_id]
        assert gallery.artifacts[0].title == "scores"


async def test_a_runner_that_lost_its_job_cannot_upload_to_its_session(
    client: HubClient,
) -> None:
    """An upload names the attempt held: after the job is cancelled, the same runner's
    upload is `lease_lost` and the session holds no new attachment; another runner key
    of the owner never held it."""
    s = await setup(client, credits=10)
    sid, a = s.session["id"], s.session["a"]
    async with HubAPI(client.base) as rest:
        job = await rest.create_job(sid, a, "echo")
        claimed = await rest.claim(s.runners["main"])
        assert claimed is not None and claimed.job.id == job.id
        kept = await rest.upload_output(s.runners["main"], job.id, 1, b"early", name="a.txt")
        other = await runner_key(client, s.user, ["echo"], name="other")
        with pytest.raises(LeaseLost):
            await rest.upload_output(other, job.id, 1, b"not mine", name="b.txt")
        with pytest.raises(LeaseLost):
            await rest.upload_output(s.runners["main"], job.id, 2, b"next try", name="b.txt")
        await rest.cancel_job(sid, a, job.id)
        with pytest.raises(LeaseLost):
            await rest.upload_output(s.runners["main"], job.id, 1, b"late", name="c.txt")
        listed = await rest.attachments(sid, a)
        assert [x.id for x in listed.attachments] == [kept.id]


async def test_a_result_naming_another_sessions_attachment_is_refused(
    client: HubClient,
) -> None:
    """A result's attachments must be uploads of the job's session: naming another
    session's upload is `bad_request` and the runner still holds the job."""
    s = await setup(client, credits=10)
    elsewhere = await setup(client, credits=10)
    async with HubAPI(client.base) as rest:
        foreign = await rest.upload_attachment(
            elsewhere.session["id"], elsewhere.session["a"], b"x", name="x.txt"
        )
        job = await rest.create_job(s.session["id"], s.session["a"], "echo")
        assert await rest.claim(s.runners["main"]) is not None
        with pytest.raises(HubClientError) as refused:
            await rest.report_result(
                s.runners["main"], job.id, 1, "succeeded", attachments=[foreign.id]
            )
        assert refused.value.code == "bad_request"
        still = await rest.job(s.session["id"], s.session["a"], job.id)
        assert still.status == "running" and still.output_attachments == []
        await rest.report_result(s.runners["main"], job.id, 1, "succeeded")
        page = await rest.history(s.session["id"], s.session["a"])
        assert all(m.msg_type != "system" or "job" not in m.metadata for m in page.messages)
