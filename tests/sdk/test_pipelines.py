"""Pipeline runs with real runners (the SDK's Runner) against a real hub and PostgreSQL:
a diamond runs each node once in order with upstream outputs as inputs; a failing node
skips its downstream while an independent branch completes; cancel stops the run and
releases its reservations; a run the pool cannot pay for makes nothing; two nodes
ending at once queue their common downstream node exactly once; the ledger always
equals the balance."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

import asyncpg
import pytest

from hub.client import HubAPI, HubClientError, InsufficientCredits, Runner, RunningJob
from hub.client import connect as connect_session
from hub.domain.pipelines import PipelineRun
from hub.protocol import JobEvent, PipelineRunEvent
from tests.compute_helpers import Setup, call_ok, claim, ledger_matches, report, setup
from tests.helpers import HubClient

TIMEOUT = 15.0
_ids = itertools.count(1)


@pytest.fixture
async def db(database_url: str) -> Any:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


def pipeline(nodes: dict[str, str], edges: list[tuple[str, str]], **configs: Any) -> Any:
    """Pipeline data: node id → type, edges source → target, configs by node id."""
    return {
        "kind": "pipeline",
        "nodes": [
            {"id": n, "type": t, "label": n.upper(), "config": configs.get(n, {"n": n})}
            for n, t in nodes.items()
        ],
        "edges": [{"source": s, "target": t} for s, t in edges],
    }


async def artifact(rest: HubAPI, s: Setup, data: Any) -> int:
    made = await rest.create_artifact(
        s.session["id"],
        s.session["a"],
        title="Binder design",
        data=data,
        message={"client_msg_id": f"p{next(_ids)}", "content": "a pipeline"},
    )
    return made.id


async def run_until_done(obs: Any, run_id: str) -> PipelineRun:
    """The run as its last `pipeline_run` event shows it once it ended."""
    async with asyncio.timeout(TIMEOUT):
        async for event in obs:
            if isinstance(event, PipelineRunEvent) and event.run.id == run_id:
                if event.run.status != "running":
                    return event.run
    raise AssertionError("the session ended")


DIAMOND = pipeline(
    {"a": "prep", "b": "fold", "c": "dock", "d": "rank"},
    [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
)


async def test_a_diamond_runs_each_node_once_in_order_with_upstream_outputs_as_inputs(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """Two real runners run a diamond a → (b, c) → d: each node's job runs once, a first
    and d last, d's input carries b's and c's outputs; the run succeeds, its log says
    so in order, the session sees it live, and the pool's ledger equals its balance."""
    s = await setup(client, credits=100, kinds=("prep", "fold", "dock", "rank"))
    sid, a = s.session["id"], s.session["a"]
    seen: list[tuple[str, Any]] = []

    async def work(job: RunningJob) -> Any:
        seen.append((job.input["node"], job.input))
        await job.progress(50, "half", used=1)
        return {"made_by": job.input["node"], "got": sorted(job.input["upstream"])}

    async with HubAPI(client.base) as rest, connect_session(client.base, s.session["obs"]) as obs:
        art = await artifact(rest, s, DIAMOND)
        run = await rest.run_pipeline(sid, a, art, costs={"d": 40}, default_cost=10)
        assert run.status == "running" and run.cost_reserved == 70
        assert [(n.id, n.state) for n in run.nodes] == [
            ("a", "queued"),
            ("b", "pending"),
            ("c", "pending"),
            ("d", "pending"),
        ]
        pool = await rest.pool(s.user, s.pool)
        assert (pool.balance, pool.reserved) == (30, 70)
        runners = [Runner(client.base, s.runners["main"], concurrency=2) for _ in range(2)]
        tasks = [asyncio.create_task(r.run(work)) for r in runners]
        try:
            done = await run_until_done(obs, run.id)
        finally:
            for r in runners:
                r.stop()
            await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
        assert done.status == "succeeded"
        assert all(n.state == "succeeded" for n in done.nodes)
        order = [node for node, _ in seen]
        assert Counter(order) == {"a": 1, "b": 1, "c": 1, "d": 1}
        assert order[0] == "a" and order[-1] == "d"
        inputs = dict(seen)
        assert inputs["a"]["upstream"] == {} and inputs["a"]["config"] == {"n": "a"}
        assert inputs["b"]["upstream"] == {"a": {"made_by": "a", "got": []}}
        assert inputs["d"]["upstream"] == {
            "b": {"made_by": "b", "got": ["a"]},
            "c": {"made_by": "c", "got": ["a"]},
        }
        detail = await rest.pipeline_run(sid, s.session["obs"], run.id)
        assert [j.kind for j in detail.jobs] == ["prep", "fold", "dock", "rank"]
        assert all(j.status == "succeeded" and j.attempts == 1 for j in detail.jobs)
        log = [(e.node, e.status) for e in detail.log]
        assert [e.seq for e in detail.log] == list(range(1, len(log) + 1))
        assert log[0] == (None, "running") and log[-1] == (None, "succeeded")
        assert log.index(("a", "succeeded")) < log.index(("b", "queued"))
        assert log.index(("b", "succeeded")) < log.index(("d", "queued"))
        assert log.index(("c", "succeeded")) < log.index(("d", "queued"))
        assert Counter(log)[("d", "queued")] == 1
        assert detail.log[-2].result["charged"] == 40  # type: ignore[index]
        listed = await rest.pipeline_runs(sid, s.session["b"])
        assert [r.id for r in listed.runs] == [run.id]
    assert await ledger_matches(db, s.pool) == {"balance": 30, "reserved": 0, "spent": 70}


async def test_a_failing_node_skips_its_downstream_while_an_independent_branch_completes(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """a → b → d, a → c, and e alone: b fails, so d is skipped (its reservation released,
    nothing charged) while c and e succeed; the run ends failed."""
    s = await setup(client, credits=100, kinds=("step", "boom"))
    data = pipeline(
        {"a": "step", "b": "boom", "c": "step", "d": "step", "e": "step"},
        [("a", "b"), ("b", "d"), ("a", "c")],
    )

    async def work(job: RunningJob) -> Any:
        if job.job.kind == "boom":
            raise RuntimeError("the cluster is on fire")
        return {"ok": job.input["node"]}

    async with HubAPI(client.base) as rest, connect_session(client.base, s.session["obs"]) as obs:
        art = await artifact(rest, s, data)
        async with connect_session(client.base, s.session["b"]) as agent_b:
            run = await agent_b.run_pipeline(art, default_cost=10)
        runner = Runner(client.base, s.runners["main"], concurrency=3)
        task = asyncio.create_task(runner.run(work))
        try:
            done = await run_until_done(obs, run.id)
        finally:
            runner.stop()
            await asyncio.wait_for(task, TIMEOUT)
        states = {n.id: n.state for n in done.nodes}
        assert done.status == "failed"
        assert states == {
            "a": "succeeded",
            "b": "failed",
            "c": "succeeded",
            "d": "skipped",
            "e": "succeeded",
        }
        async with connect_session(client.base, s.session["a"]) as agent_a:
            detail = await agent_a.pipeline_run(run.id)
        jobs = {j.id: j for j in detail.jobs}
        skipped = jobs[done.nodes[3].job_id]
        assert (skipped.status, skipped.cost_charged, skipped.attempts) == ("skipped", 0, 0)
        failed = [e for e in detail.log if e.node == "b" and e.status == "failed"]
        assert failed[0].result["error"] == "the cluster is on fire"  # type: ignore[index]
    # a, c, e charged all their 10 (success); b charged what it used (0); d released
    assert await ledger_matches(db, s.pool) == {"balance": 70, "reserved": 0, "spent": 30}


async def test_cancel_stops_the_run_and_releases_its_reservations(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """a → b with a held by a runner: cancelling the run cancels a (its runner's work is
    cancelled: lease lost; what it reported used is charged), skips b, ends the run
    cancelled and releases everything else; cancelling again is invalid_transition."""
    s = await setup(client, credits=100, kinds=("slow", "after"))
    sid, a = s.session["id"], s.session["a"]
    data = pipeline({"a": "slow", "b": "after"}, [("a", "b")])
    started = asyncio.Event()
    stopped = asyncio.Event()

    async def hold(job: RunningJob) -> Any:
        await job.progress(10, "started", used=3)
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopped.set()
            raise

    async with HubAPI(client.base) as rest, connect_session(client.base, s.session["obs"]) as obs:
        art = await artifact(rest, s, data)
        run = await rest.run_pipeline(sid, a, art, costs={"a": 20, "b": 30})
        runner = Runner(client.base, s.runners["main"])
        task = asyncio.create_task(runner.run(hold))
        try:
            await asyncio.wait_for(started.wait(), TIMEOUT)
            with pytest.raises(HubClientError) as refused:
                await rest.cancel_pipeline_run(sid, s.session["obs"], run.id)
            assert refused.value.code == "forbidden"
            ended = await rest.cancel_pipeline_run(sid, a, run.id)
            assert ended.status == "cancelled" and ended.cancelled_by is not None
            assert [n.state for n in ended.nodes] == ["cancelled", "skipped"]
            heard: dict[str, str] = {}
            async with asyncio.timeout(TIMEOUT):
                async for event in obs:
                    if isinstance(event, JobEvent):
                        heard[event.job.id] = event.job.status
                    if isinstance(event, PipelineRunEvent) and event.run.status == "cancelled":
                        break
            # the jobs' own events come first, then the run's
            assert heard.get(run.nodes[0].job_id) == "cancelled"
            assert heard.get(run.nodes[1].job_id) == "skipped"
            await asyncio.wait_for(stopped.wait(), TIMEOUT)
            with pytest.raises(HubClientError) as again:
                await rest.cancel_pipeline_run(sid, a, run.id)
            assert again.value.code == "invalid_transition"
        finally:
            runner.stop()
            await asyncio.wait_for(task, TIMEOUT)
        detail = await rest.pipeline_run(sid, a, run.id)
        assert [j.status for j in detail.jobs] == ["cancelled", "skipped"]
        assert [j.cost_charged for j in detail.jobs] == [3, 0]
    assert await ledger_matches(db, s.pool) == {"balance": 97, "reserved": 0, "spent": 3}


async def test_a_run_the_pool_cannot_pay_for_in_full_makes_nothing(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """Three nodes of 5 credits and a pool of 12: insufficient_credits, and no run, no
    job, no ledger row is made; an observer may not start a run; a run at an older
    version runs that version's nodes."""
    s = await setup(client, credits=12, kinds=("x",))
    sid, a = s.session["id"], s.session["a"]
    data = pipeline({"p": "x", "q": "x", "r": "x"}, [("p", "q")], r={"estimated_cost": 5})
    async with HubAPI(client.base) as rest:
        art = await artifact(rest, s, data)
        before = await db.fetchval("SELECT count(*) FROM compute_ledger WHERE pool_id = $1", s.pool)
        with pytest.raises(InsufficientCredits):
            await rest.run_pipeline(sid, a, art, default_cost=5)
        with pytest.raises(HubClientError) as refused:
            await rest.run_pipeline(sid, s.session["obs"], art)
        assert refused.value.code == "forbidden"
        assert (
            await db.fetchval("SELECT count(*) FROM pipeline_runs WHERE session_id = $1", sid) == 0
        )
        assert (
            await db.fetchval("SELECT count(*) FROM compute_jobs WHERE session_id = $1", sid) == 0
        )
        after = await db.fetchval("SELECT count(*) FROM compute_ledger WHERE pool_id = $1", s.pool)
        assert after == before
        assert await ledger_matches(db, s.pool) == {"balance": 12, "reserved": 0, "spent": 0}
        # version 2 adds a node; version 1 (p → q, r) costs 5 + 0 + 5
        grown = pipeline({"p": "x", "q": "x", "r": "x", "z": "x"}, [("p", "q")])
        await rest.update_artifact(sid, a, art, data=grown, expected_version=1)
        run = await rest.run_pipeline(sid, a, art, version=1, costs={"p": 5, "q": 0})
        assert run.artifact_version == 1 and [n.id for n in run.nodes] == ["p", "q", "r"]
        assert run.cost_reserved == 10
        for bad, code in (({"costs": {"nope": 1}}, 400), ({"version": 9}, 404)):
            got, _ = await client.call(
                "POST",
                f"/api/sessions/{sid}/pipeline-runs",
                token=a,
                json={"artifact_id": art, **bad},
            )
            assert got == code
    assert await ledger_matches(db, s.pool) == {"balance": 2, "reserved": 10, "spent": 0}


async def test_a_start_retried_with_its_client_run_id_makes_one_run_and_reserves_once(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """Eight concurrent starts over HTTP with one client_run_id, from a pool that could
    pay for the run only once: one 201, seven 200 with the same run, one run, one job per
    node, one reservation (no retry sees the balance its first attempt drew on); the
    SDK's retry returns it too; another requester's same id is another run; the ledger
    equals the balance."""
    s = await setup(client, credits=30, kinds=("x",))
    sid, a, b = s.session["id"], s.session["a"], s.session["b"]
    path = f"/api/sessions/{sid}/pipeline-runs"
    async with HubAPI(client.base) as rest:
        art = await artifact(rest, s, pipeline({"p": "x", "q": "x"}, [("p", "q")]))
        body = {"artifact_id": art, "default_cost": 10, "client_run_id": "binder-1"}
        answers = await asyncio.gather(
            *(client.call("POST", path, token=a, json=body) for _ in range(8))
        )
        assert sorted(status for status, _ in answers) == [200] * 7 + [201], answers
        assert len({run["id"] for _, run in answers}) == 1
        first = answers[0][1]
        assert first["client_run_id"] == "binder-1" and first["cost_reserved"] == 20
        again = await rest.run_pipeline(sid, a, art, default_cost=10, client_run_id="binder-1")
        assert again.id == first["id"]
        other = await rest.run_pipeline(sid, b, art, default_cost=5, client_run_id="binder-1")
        assert other.id != first["id"] and other.cost_reserved == 10
    runs = await db.fetchval("SELECT count(*) FROM pipeline_runs WHERE session_id = $1", sid)
    jobs = await db.fetchval("SELECT count(*) FROM compute_jobs WHERE session_id = $1", sid)
    assert (runs, jobs) == (2, 4)
    reservations = await db.fetchval(
        "SELECT count(*) FROM compute_ledger WHERE pool_id = $1 AND reserved_change > 0", s.pool
    )
    assert reservations == 4
    assert await ledger_matches(db, s.pool) == {"balance": 0, "reserved": 30, "spent": 0}


async def test_nodes_ending_at_once_queue_their_common_downstream_exactly_once(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """In ten runs of a → (b1 … b8) → d, the eight middle nodes report their results
    concurrently (eight requests in flight at once, each its own transaction): d is
    queued once, never twice and never missed, with all eight outputs in its input."""
    middle = [f"b{i}" for i in range(1, 9)]
    s = await setup(client, credits=1000, kinds=("prep", "fold", "rank"))
    sid, a = s.session["id"], s.session["a"]
    key = s.runners["main"]
    data = pipeline(
        {"a": "prep", **dict.fromkeys(middle, "fold"), "d": "rank"},
        [("a", b) for b in middle] + [(b, "d") for b in middle],
    )
    async with HubAPI(client.base) as rest:
        art = await artifact(rest, s, data)
        for _ in range(10):
            # the middle nodes cost nothing: their results move no credits, so nothing but
            # the run's lock (no pool row) orders their transactions
            run = await rest.run_pipeline(sid, a, art, costs={"a": 5, "d": 5})
            first = await claim(client, key, kinds=["prep"])
            got, _ = await report(
                client, key, first["job"]["id"], "result", attempt=1, status="succeeded"
            )
            assert got == 200
            held = [await claim(client, key, kinds=["fold"]) for _ in middle]
            answers = await asyncio.gather(
                *(
                    report(
                        client,
                        key,
                        h["job"]["id"],
                        "result",
                        attempt=1,
                        status="succeeded",
                        output={"n": h["job"]["input"]["node"]},
                    )
                    for h in held
                )
            )
            assert [code for code, _ in answers] == [200] * len(middle)
            detail = await rest.pipeline_run(sid, a, run.id)
            d = detail.jobs[-1]
            assert d.status == "queued"
            assert d.input["upstream"] == {b: {"n": b} for b in middle}
            assert Counter((e.node, e.status) for e in detail.log)[("d", "queued")] == 1
            last = await claim(client, key, kinds=["rank"])
            assert last["job"]["id"] == d.id
            await report(client, key, d.id, "result", attempt=1, status="succeeded")
            assert await claim(client, key) is None
            ran = await rest.pipeline_run(sid, a, run.id)
            assert ran.run.status == "succeeded"
    assert await ledger_matches(db, s.pool) == {"balance": 900, "reserved": 0, "spent": 100}


async def test_cancelling_one_nodes_job_skips_its_downstream_and_fails_the_run(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """An agent cancels a node's waiting job directly (the job route): its downstream
    node is skipped, the root goes on, and once it ends the run has failed."""
    s = await setup(client, credits=100, kinds=("x",))
    sid, a = s.session["id"], s.session["a"]
    data = pipeline({"p": "x", "q": "x", "r": "x"}, [("p", "q"), ("q", "r")])
    async with HubAPI(client.base) as rest:
        art = await artifact(rest, s, data)
        run = await rest.run_pipeline(sid, a, art, default_cost=4)
        q = run.nodes[1].job_id
        cancelled = await rest.cancel_job(sid, a, q)
        assert (cancelled.status, cancelled.cost_charged) == ("cancelled", 0)
        detail = await rest.pipeline_run(sid, a, run.id)
        assert [n.state for n in detail.run.nodes] == ["queued", "cancelled", "skipped"]
        assert detail.run.status == "running"
        root = await claim(client, s.runners["main"])
        await report(
            client, s.runners["main"], root["job"]["id"], "result", attempt=1, status="succeeded"
        )
        ended = await rest.pipeline_run(sid, a, run.id)
        assert ended.run.status == "failed"
    await call_ok(client, "GET", f"/api/sessions/{sid}/pipeline-runs/{run.id}", token=a)
    assert await ledger_matches(db, s.pool) == {"balance": 96, "reserved": 0, "spent": 4}


async def test_a_node_that_times_out_skips_its_downstream(
    make_client: Any, db: asyncpg.Connection
) -> None:
    """A root claimed and never heartbeaten, with one attempt: its lease runs out, the
    sweeper ends it timed_out, and in that transaction its downstream is skipped and the
    run fails (what it reported used charged, the rest released)."""
    hub = await make_client(job_lease_seconds=0.5, job_sweep_interval=0.05)
    s = await setup(hub, credits=100, kinds=("x",))
    sid, a = s.session["id"], s.session["a"]
    data = pipeline({"p": "x", "q": "x"}, [("p", "q")])
    async with HubAPI(hub.base) as rest, connect_session(hub.base, s.session["obs"]) as obs:
        art = await artifact(rest, s, data)
        run = await rest.run_pipeline(sid, a, art, default_cost=10, max_attempts=1)
        held = await claim(hub, s.runners["main"])
        await report(hub, s.runners["main"], held["job"]["id"], "progress",
                     attempt=1, progress=5, used=2)  # fmt: skip
        done = await run_until_done(obs, run.id)
        assert done.status == "failed"
        assert [n.state for n in done.nodes] == ["timed_out", "skipped"]
        detail = await rest.pipeline_run(sid, a, run.id)
        assert [j.cost_charged for j in detail.jobs] == [2, 0]
        assert [(e.node, e.status) for e in detail.log][-3:] == [
            ("p", "timed_out"), ("q", "skipped"), (None, "failed"),
        ]  # fmt: skip
    assert await ledger_matches(db, s.pool) == {"balance": 98, "reserved": 0, "spent": 2}


async def test_deleting_the_session_cancels_its_running_runs(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """A session deleted with a run under way: in the same transaction its running job
    is cancelled, its pending nodes skipped and the run ends cancelled; nothing stays
    reserved."""
    s = await setup(client, credits=100, kinds=("x",))
    sid, a = s.session["id"], s.session["a"]
    data = pipeline({"p": "x", "q": "x", "r": "x"}, [("p", "q"), ("q", "r")])
    async with HubAPI(client.base) as rest:
        art = await artifact(rest, s, data)
        run = await rest.run_pipeline(sid, a, art, default_cost=10)
        await claim(client, s.runners["main"])
        await rest.delete_session(sid, a)
    status = await db.fetchval("SELECT status FROM pipeline_runs WHERE id = $1", run.id)
    assert status == "cancelled"
    jobs = await db.fetch(
        "SELECT j.status FROM pipeline_run_nodes n JOIN compute_jobs j ON j.id = n.job_id"
        " WHERE n.run_id = $1 ORDER BY n.position",
        run.id,
    )
    assert [r["status"] for r in jobs] == ["cancelled", "skipped", "skipped"]
    assert await ledger_matches(db, s.pool) == {"balance": 100, "reserved": 0, "spent": 0}


async def test_a_run_request_out_of_range_is_bad_request(client: HubClient) -> None:
    """An artifact id past PostgreSQL's bigint, a version past its integer, a cost past
    10^15, an unknown field: 400 `bad_request`, never a server error."""
    s = await setup(client, credits=10, kinds=("x",))
    path = f"/api/sessions/{s.session['id']}/pipeline-runs"
    for body in (
        {"artifact_id": 2**63},
        {"artifact_id": 1, "version": 2**31},
        {"artifact_id": 1, "costs": {"a": 10**15 + 1}},
        {"artifact_id": 1, "default_cost": -1},
        {"artifact_id": 1, "nodes": []},
        {"artifact_id": 1, "client_run_id": ""},
        {"artifact_id": 1, "client_run_id": "x" * 129},
    ):
        status, answer = await client.call("POST", path, token=s.session["a"], json=body)
        assert (status, answer["code"]) == (400, "bad_request"), body
    status, answer = await client.call("POST", path, token=s.session["a"], json={"artifact_id": 99})
    assert (status, answer["code"]) == (404, "not_found")
