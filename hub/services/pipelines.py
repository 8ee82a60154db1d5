"""Pipeline runs: a pipeline artifact run node by node, one job per node, with an
execution log (the rules: `hub.domain.pipelines`).

Starting a run is one transaction: every node's job is created, each reserving its
estimated cost from the session's pool, the roots `queued` and the others `waiting`; if
the pool holds less than the sum, `insufficient_credits` and nothing is written. So a
run that starts can always finish as far as credits go.

A run advances in the transaction that ends one of its nodes' jobs (a runner's result,
a cancel, a lease run out for the last time): `end_job` calls `advance_after`, which
locks the run's row, reads its nodes' states, and queues the nodes whose upstream nodes
all succeeded (their input now carrying those outputs) or skips those downstream of a
node that did not (their reservations released). Whoever ends a node's job locks the
run's row before the job's (`lock_run_of_job`): the ends of one run's nodes are
serialized, so of two nodes ending at once the second sees the first, and their common
downstream node is queued exactly once. Every change is then a `pipeline_run` event
(and `job` events for the jobs it changed), published after the commit.
"""

from __future__ import annotations

import builtins
from typing import Any

from hub.api.pipelines import NewRun, RunDetail, RunList
from hub.domain import Principal, require
from hub.domain.artifacts import Pipeline, PipelineEdge, PipelineNode
from hub.domain.cursors import decode_time_cursor, encode_time_cursor
from hub.domain.jobs import Job, check_input, new_job_id
from hub.domain.pipelines import (
    Graph,
    NodeState,
    PipelineRun,
    RunLogEntry,
    RunStatus,
    advance,
    check_runnable,
    graph_of,
    new_run_id,
    node_costs,
    node_input,
    node_state,
    upstream_outputs,
)
from hub.domain.pools import settle
from hub.errors import HubError
from hub.protocol import Event, JobEvent, PipelineRunEvent
from hub.services.events import Events
from hub.store import Connection, Store, changes
from hub.store import artifacts as artifact_store
from hub.store import jobs as job_store
from hub.store import pipelines as run_store
from hub.store import pools as pool_store
from hub.store import sessions as session_store

__all__ = ["Pipelines", "advance_after", "latest", "lock_run_of_job", "stop_session_runs"]


async def lock_run_of_job(conn: Connection, job_id: str) -> None:
    """Lock the run a job is a node of, if any: call it before locking a job's row to
    end it (the run's row is always locked first)."""
    await run_store.lock_run_of_job(conn, job_id)


async def advance_after(conn: Connection, ended: Job, actor: str, then: list[Event] | None) -> None:
    """If `ended` (just ended, in this transaction) is a node's job, log its end and
    advance its run; the events to publish after the commit are added to `then`."""
    run_id = await run_store.lock_run_of_job(conn, ended.id)
    if run_id is not None:
        result = {"job_id": ended.id, "charged": ended.cost_charged, "error": ended.error}
        await _advance(conn, run_id, actor, then, ended=(ended, result))


async def stop_session_runs(conn: Connection, session_id: str, actor: str) -> None:
    """Mark the session's running runs cancelled-by `actor` (it is being deleted); the
    caller then cancels their open jobs, which ends them."""
    for run_id in await run_store.lock_open_runs(conn, session_id):
        await run_store.request_cancel(conn, run_id, actor)


def _graph(nodes: list[run_store.NodeRow]) -> Graph:
    """The run's graph, from its nodes' upstream lists (in the artifact's node order)."""
    return graph_of(
        Pipeline(
            nodes=[PipelineNode(id=n.node_id, type="node") for n in nodes],
            edges=[PipelineEdge(source=u, target=n.node_id) for n in nodes for u in n.upstream],
        )
    )


async def _advance(
    conn: Connection,
    run_id: str,
    actor: str,
    then: list[Event] | None,
    *,
    ended: tuple[Job, dict[str, Any]] | None = None,
    opening: tuple[str, Any] | None = None,
) -> PipelineRun:
    """Advance the run (its row locked here, if not already): log the run's `opening`
    (its start) or the node job that `ended`, queue and skip nodes as the domain says,
    end the run when no node can run any more."""
    run = await run_store.lock_run(conn, run_id)
    assert run is not None
    entries: list[tuple[str | None, str, Any]] = []
    if opening is not None:
        entries.append((None, *opening))
    changed: list[Job] = []
    nodes = await run_store.node_rows(conn, run_id)
    by_job = {n.job_id: n for n in nodes}
    if ended is not None:
        job, result = ended
        entries.append((by_job[job.id].node_id, job.status, result))
    if run.status == "running":
        graph = _graph(nodes)
        states: dict[str, NodeState] = {n.node_id: node_state(n.status) for n in nodes}
        step = advance(graph, states, cancelled=run.cancelled_by is not None)
        job_of = {n.node_id: n.job_id for n in nodes}
        if step.queue:
            wanted = sorted({u for node in step.queue for u in graph.upstream[node]})
            found = await run_store.outputs(conn, [job_of[u] for u in wanted])
            outputs = {u: found.get(job_of[u]) for u in wanted}
            for node in step.queue:
                queued = await run_store.queue_node(
                    conn, job_of[node], upstream_outputs(graph, node, outputs)
                )
                changed.append(queued)
                entries.append((node, "queued", {"job_id": queued.id}))
                await changes.outbox(conn, run.session_id, "job.updated", JobEvent(job=queued))
        for node in step.skip:
            skipped = await _skip(conn, job_of[node], actor)
            await changes.outbox(conn, run.session_id, "job.updated", JobEvent(job=skipped))
            changed.append(skipped)
            entries.append((node, "skipped", {"job_id": skipped.id, "charged": 0}))
        if step.status != "running":
            await run_store.finish_run(conn, run_id, step.status)
            entries.append((None, step.status, None))
    if not entries:  # nothing happened (a cancel's last look at a run already ended)
        return run
    log = await run_store.add_log(conn, run_id, entries)
    now = await run_store.lock_run(conn, run_id)
    assert now is not None
    event = PipelineRunEvent(run=now, log=log)
    await changes.outbox(conn, run.session_id, "pipeline_run.updated", event)
    if then is not None:
        then.extend(JobEvent(job=j) for j in changed)
        then.append(event)
    return now


async def _skip(conn: Connection, job_id: str, actor: str) -> Job:
    """End a waiting node's job `skipped`: nothing charged, its reservation released."""
    job = await run_store.skip_node(conn, job_id)
    await pool_store.release_reservation(
        conn, job.pool_id, job.id, settle(job.cost_reserved, 0), actor
    )
    return job


class Pipelines:
    def __init__(self, store: Store, events: Events) -> None:
        self._store = store
        self._events = events

    async def _publish(self, session_id: str, events: list[Event]) -> None:
        for event in events:
            await self._events.publish(session_id, event)

    async def start(self, who: Principal, req: NewRun) -> tuple[PipelineRun, bool]:
        """Run a pipeline artifact of the session (agents): every node's job created and
        its cost reserved at once, the roots queued; (the run, whether it was a retry of
        a start with its `client_run_id`: the run made then, nothing more reserved)."""
        require(who, "run_jobs")
        then: builtins.list[Event] = []
        async with self._store.transaction() as conn:
            await session_store.hold_for_write(conn, who.session_id)
            artifact = await artifact_store.get_artifact(conn, who.session_id, req.artifact_id)
            if artifact.kind != "pipeline":
                raise HubError(
                    "bad_request",
                    f"artifact {req.artifact_id} is a {artifact.kind}, not a pipeline",
                )
            data, version = artifact.data, artifact.version
            if req.version is not None and req.version != artifact.version:
                older = await artifact_store.get_artifact_version(
                    conn, who.session_id, req.artifact_id, req.version
                )
                data, version = older.data, older.version
            assert isinstance(data, Pipeline)
            check_runnable(data)
            costs = node_costs(data, req.costs, req.default_cost)
            graph = graph_of(data)
            inputs = {n.id: node_input(data, graph, n.id, {}) for n in data.nodes}
            for node_id, value in inputs.items():
                try:
                    check_input(value)
                except ValueError as exc:
                    raise HubError("bad_request", f"node {node_id!r}: {exc}") from exc
            drawn = await pool_store.session_pool_id(conn, who.session_id)
            if drawn is None:
                raise HubError(
                    "bad_request", "this session draws on no pool: agent A sets one (PUT …/pool)"
                )
            pool_id, pool_owner = drawn
            total = sum(costs.values())
            # The run's row before the pool's lock: a retry racing its first attempt
            # waits on the client_run_id index, then finds the run made (not a balance
            # its first attempt has already drawn on).
            run_id = await run_store.insert_run(
                conn,
                new_run_id(),
                who.session_id,
                artifact_id=artifact.id,
                artifact_version=version,
                title=artifact.title,
                pool_id=pool_id,
                requested_by=who.participant_id,
                requested_role=who.role,
                cost_reserved=total,
                client_run_id=req.client_run_id,
            )
            if run_id is None:
                assert req.client_run_id is not None
                first = await run_store.run_by_client_id(
                    conn, who.session_id, who.participant_id, req.client_run_id
                )
                assert first is not None
                return first, True
            pool = await pool_store.find_pool(conn, pool_id, lock=True)
            assert pool is not None
            if pool.pool.balance < total:
                raise HubError(
                    "insufficient_credits",
                    f"the run needs {total} credits; the session's pool holds {pool.pool.balance}",
                )
            rows: list[tuple[str, str, str | None, list[str], str]] = []
            for node in data.nodes:
                job, _ = await job_store.insert_job(
                    conn,
                    new_job_id(),
                    who.session_id,
                    pool_id,
                    pool_owner=pool_owner,
                    kind=node.type,
                    input=inputs[node.id],
                    attachments=[],
                    requested_by=who.participant_id,
                    requested_role=who.role,
                    cost=costs[node.id],
                    max_attempts=req.max_attempts,
                    client_job_id=None,
                    status="waiting",
                )
                await pool_store.reserve(conn, pool_id, costs[node.id], job.id, who.participant_id)
                rows.append((node.id, node.type, node.label, list(graph.upstream[node.id]), job.id))
                created = JobEvent(job=job)
                await changes.outbox(conn, who.session_id, "job.created", created)
                then.append(created)
            await run_store.insert_nodes(conn, run_id, rows)
            await changes.record_as(
                conn,
                who,
                "pipeline_run.started",
                {
                    "run_id": run_id,
                    "artifact_id": artifact.id,
                    "version": version,
                    "reserved": total,
                    "jobs": {node_id: job_id for node_id, _, _, _, job_id in rows},
                },
            )
            started = await _advance(
                conn,
                run_id,
                who.participant_id,
                then,
                opening=("running", {"cost_reserved": total}),
            )
        await self._publish(who.session_id, latest(then))
        return started, False

    async def get(self, who: Principal, run_id: str) -> RunDetail:
        require(who, "read")
        async with self._store.connection() as conn:
            run = await run_store.get_run(conn, who.session_id, run_id)
            if run is None:
                raise HubError("not_found", f"no pipeline run {run_id[:64]!r} in this session")
            jobs = await run_store.run_jobs(conn, run_id)
            log = await run_store.log_page(conn, run_id, 0, 100_000)
        return RunDetail(run=run, jobs=jobs, log=log)

    async def list(
        self, who: Principal, *, status: RunStatus | None, before: str | None, limit: int
    ) -> RunList:
        """The session's runs, newest first."""
        require(who, "read")
        async with self._store.connection() as conn:
            runs = await run_store.list_runs(
                conn,
                who.session_id,
                status=status,
                before=decode_time_cursor(before) if before else None,
                limit=limit,
            )
        last = runs[-1] if len(runs) == limit else None
        return RunList(
            runs=runs, next_before=encode_time_cursor(last.created_at, last.id) if last else None
        )

    async def cancel(self, who: Principal, run_id: str) -> PipelineRun:
        """Cancel a running run (agents): its queued and running jobs cancelled (what was
        used charged, the rest released), its pending nodes skipped; it ends
        `cancelled`."""
        from hub.services.jobs import end_job  # jobs calls back into this module

        require(who, "run_jobs")
        then: builtins.list[Event] = []
        async with self._store.transaction() as conn:
            run = await run_store.lock_run(conn, run_id)
            if run is None or run.session_id != who.session_id:
                raise HubError("not_found", f"no pipeline run {run_id[:64]!r} in this session")
            if run.status != "running":
                raise HubError("invalid_transition", f"the run is already {run.status}")
            await run_store.request_cancel(conn, run_id, who.participant_id)
            stopped: builtins.list[str] = []
            for job in await run_store.run_jobs(conn, run_id, lock=True):
                if job.status in ("queued", "running"):
                    cancelled = await end_job(
                        conn,
                        job,
                        "cancelled",
                        job.cost_used,
                        who.participant_id,
                        then=then,
                        record=False,  # the run's cancel is the one activity row
                    )
                    then.append(JobEvent(job=cancelled))
                    stopped.append(job.id)
            ended = await _advance(conn, run_id, who.participant_id, then)
            await changes.record_as(
                conn, who, "pipeline_run.cancelled", {"run_id": run_id, "jobs_cancelled": stopped}
            )
        await self._publish(who.session_id, latest(then))
        return ended


def latest(events: list[Event]) -> list[Event]:
    """What one transaction's changes publish: each job's last event, then one
    `pipeline_run` event per run (the last state, carrying every log entry added)."""
    last: dict[str, int] = {}
    logs: dict[str, list[RunLogEntry]] = {}
    for i, event in enumerate(events):
        if isinstance(event, JobEvent):
            last[event.job.id] = i
        elif isinstance(event, PipelineRunEvent):
            last[event.run.id] = i
            logs.setdefault(event.run.id, []).extend(event.log)
    kept: list[Event] = []
    runs: list[Event] = []  # after the jobs: a run's event sums up what they did
    for i, event in enumerate(events):
        if isinstance(event, JobEvent) and last[event.job.id] == i:
            kept.append(event)
        elif isinstance(event, PipelineRunEvent) and last[event.run.id] == i:
            runs.append(PipelineRunEvent(run=event.run, log=logs[event.run.id]))
        elif not isinstance(event, JobEvent | PipelineRunEvent):
            kept.append(event)
    return kept + runs
