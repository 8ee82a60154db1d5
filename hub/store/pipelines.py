"""Pipeline runs: their rows, their nodes (one job each) and their execution log.

A run's row is locked (`lock_run`) before any of its nodes' jobs is ended or changed
from `waiting`: whoever ends a node's job locks the run first (`lock_run_of_job`, then
the job's row), so the nodes of one run end one after the other and each advance of the
run sees every end committed before it. A node's state is read from its job's status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from hub.domain.jobs import Job, JobStatus
from hub.domain.pipelines import PipelineRun, RunLogEntry, RunNode, RunStatus, node_state
from hub.store import Connection, row_to, rows_to
from hub.store.jobs import JOB_COLUMNS

__all__ = [
    "NodeRow",
    "add_log",
    "finish_run",
    "get_run",
    "insert_nodes",
    "insert_run",
    "list_runs",
    "lock_open_runs",
    "lock_run",
    "lock_run_of_job",
    "log_page",
    "node_rows",
    "outputs",
    "queue_node",
    "request_cancel",
    "run_by_client_id",
    "run_jobs",
    "skip_node",
]

_RUN = """id, session_id, artifact_id, artifact_version, title, pool_id, requested_by,
    requested_role, client_run_id, status, cancelled_by, cost_reserved, log_count, created_at,
    finished_at, updated_at"""


class NodeRow:
    """A run's node as its advance reads it: the graph's part and its job's state."""

    __slots__ = ("job_id", "node_id", "status", "upstream")

    def __init__(self, row: Any) -> None:
        self.node_id: str = row["node_id"]
        self.upstream: list[str] = list(row["upstream"])
        self.job_id: str = row["job_id"]
        self.status: JobStatus = row["status"]


async def insert_run(
    conn: Connection,
    run_id: str,
    session_id: str,
    *,
    artifact_id: int,
    artifact_version: int,
    title: str,
    pool_id: str,
    requested_by: str,
    requested_role: str,
    cost_reserved: int,
    client_run_id: str | None,
) -> str | None:
    """Insert the run; None if the requester started one with this `client_run_id`
    already (committed: a concurrent first attempt is waited for), else `run_id`."""
    inserted: str | None = await conn.fetchval(
        """INSERT INTO pipeline_runs (id, session_id, artifact_id, artifact_version, title,
               pool_id, requested_by, requested_role, cost_reserved, client_run_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (session_id, requested_by, client_run_id)
              WHERE client_run_id IS NOT NULL DO NOTHING
           RETURNING id""",
        run_id,
        session_id,
        artifact_id,
        artifact_version,
        title,
        pool_id,
        requested_by,
        requested_role,
        cost_reserved,
        client_run_id,
    )
    return inserted


async def run_by_client_id(
    conn: Connection, session_id: str, requested_by: str, client_run_id: str
) -> PipelineRun | None:
    """The run the requester started with this `client_run_id`."""
    row = await conn.fetchrow(
        f"""SELECT {_RUN} FROM pipeline_runs
             WHERE session_id = $1 AND requested_by = $2 AND client_run_id = $3""",
        session_id,
        requested_by,
        client_run_id,
    )
    return None if row is None else await _with_nodes(conn, dict(row.items()))


async def insert_nodes(
    conn: Connection,
    run_id: str,
    nodes: list[tuple[str, str, str | None, list[str], str]],
) -> None:
    """The run's nodes, in order: (node id, type, label, upstream node ids, job id)."""
    await conn.executemany(
        """INSERT INTO pipeline_run_nodes (run_id, node_id, position, type, label, upstream,
               job_id) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        [
            (run_id, node_id, i, type_, label, upstream, job_id)
            for i, (node_id, type_, label, upstream, job_id) in enumerate(nodes)
        ],
    )


async def lock_run(conn: Connection, run_id: str) -> PipelineRun | None:
    row = await conn.fetchrow(f"SELECT {_RUN} FROM pipeline_runs WHERE id = $1 FOR UPDATE", run_id)
    if row is None:
        return None
    return await _with_nodes(conn, dict(row.items()))


async def lock_run_of_job(conn: Connection, job_id: str) -> str | None:
    """Lock the run the job is a node of (before the job's own row is locked); its id,
    or None if the job is no node of a run."""
    run_id: str | None = await conn.fetchval(
        """SELECT r.id FROM pipeline_run_nodes n JOIN pipeline_runs r ON r.id = n.run_id
            WHERE n.job_id = $1 FOR UPDATE OF r""",
        job_id,
    )
    return run_id


async def lock_open_runs(conn: Connection, session_id: str) -> list[str]:
    """Lock the session's running runs (in id order); their ids."""
    rows = await conn.fetch(
        "SELECT id FROM pipeline_runs WHERE session_id = $1 AND status = 'running'"
        " ORDER BY id FOR UPDATE",
        session_id,
    )
    return [r["id"] for r in rows]


async def request_cancel(conn: Connection, run_id: str, by: str) -> None:
    """Mark the (locked, running) run as being cancelled by `by`."""
    await conn.execute(
        "UPDATE pipeline_runs SET cancelled_by = $2, updated_at = now() WHERE id = $1",
        run_id,
        by,
    )


async def node_rows(conn: Connection, run_id: str) -> list[NodeRow]:
    """The run's nodes in order, with their jobs' statuses."""
    rows = await conn.fetch(
        """SELECT n.node_id, n.upstream, n.job_id, j.status
             FROM pipeline_run_nodes n JOIN compute_jobs j ON j.id = n.job_id
            WHERE n.run_id = $1 ORDER BY n.position""",
        run_id,
    )
    return [NodeRow(r) for r in rows]


async def run_jobs(conn: Connection, run_id: str, *, lock: bool = False) -> list[Job]:
    """The jobs of the run's nodes, in node order (locked, in id order, if `lock`)."""
    if lock:
        await conn.execute(
            """SELECT 1 FROM compute_jobs WHERE id IN
                   (SELECT job_id FROM pipeline_run_nodes WHERE run_id = $1)
                ORDER BY id FOR UPDATE""",
            run_id,
        )
    columns = ", ".join("j." + c.strip() for c in JOB_COLUMNS.split(","))
    rows = await conn.fetch(
        f"""SELECT {columns} FROM pipeline_run_nodes n JOIN compute_jobs j ON j.id = n.job_id
             WHERE n.run_id = $1 ORDER BY n.position""",
        run_id,
    )
    return rows_to(rows, Job)


async def outputs(conn: Connection, job_ids: list[str]) -> dict[str, Any]:
    """The outputs of these jobs, by job id."""
    rows = await conn.fetch(
        "SELECT id, output FROM compute_jobs WHERE id = ANY($1::text[])", job_ids
    )
    return {r["id"]: r["output"] for r in rows}


async def queue_node(conn: Connection, job_id: str, upstream: dict[str, Any]) -> Job:
    """Queue a waiting node's job, its input's `upstream` now the upstream outputs."""
    row = await conn.fetchrow(
        f"""UPDATE compute_jobs SET status = 'queued', updated_at = now(),
                   input = jsonb_set(coalesce(input, '{{}}'::jsonb), '{{upstream}}', $2::jsonb)
             WHERE id = $1 AND status = 'waiting' RETURNING {JOB_COLUMNS}""",
        job_id,
        upstream,
    )
    assert row is not None
    return row_to(row, Job)


async def skip_node(conn: Connection, job_id: str) -> Job:
    """End a waiting node's job `skipped`, charged nothing."""
    row = await conn.fetchrow(
        f"""UPDATE compute_jobs SET status = 'skipped', cost_charged = 0, finished_at = now(),
                   updated_at = now()
             WHERE id = $1 AND status = 'waiting' RETURNING {JOB_COLUMNS}""",
        job_id,
    )
    assert row is not None
    return row_to(row, Job)


async def finish_run(conn: Connection, run_id: str, status: RunStatus) -> None:
    await conn.execute(
        "UPDATE pipeline_runs SET status = $2, finished_at = now(), updated_at = now()"
        " WHERE id = $1",
        run_id,
        status,
    )


async def add_log(
    conn: Connection, run_id: str, entries: list[tuple[str | None, str, Any]]
) -> list[RunLogEntry]:
    """Append (node id or None, status, result) entries to the (locked) run's log."""
    if not entries:
        return []
    rows = await conn.fetch(
        """WITH head AS (
               UPDATE pipeline_runs SET log_count = log_count + $2, updated_at = now()
                WHERE id = $1 RETURNING log_count - $2 AS first)
           INSERT INTO pipeline_run_log (run_id, seq, node_id, status, result)
           SELECT $1, head.first + e.n, e.node, e.status, e.result
             FROM head, unnest($3::text[], $4::text[], $5::jsonb[])
                  WITH ORDINALITY AS e(node, status, result, n)
           RETURNING seq, node_id AS node, status, result, at""",
        run_id,
        len(entries),
        [node for node, _, _ in entries],
        [status for _, status, _ in entries],
        [result for _, _, result in entries],
    )
    return sorted(rows_to(rows, RunLogEntry), key=lambda e: e.seq)


async def log_page(conn: Connection, run_id: str, after: int, limit: int) -> list[RunLogEntry]:
    rows = await conn.fetch(
        "SELECT seq, node_id AS node, status, result, at FROM pipeline_run_log"
        " WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        run_id,
        after,
        limit,
    )
    return rows_to(rows, RunLogEntry)


async def get_run(conn: Connection, session_id: str, run_id: str) -> PipelineRun | None:
    row = await conn.fetchrow(
        f"SELECT {_RUN} FROM pipeline_runs WHERE id = $1 AND session_id = $2",
        run_id,
        session_id,
    )
    return None if row is None else await _with_nodes(conn, dict(row.items()))


async def list_runs(
    conn: Connection,
    session_id: str,
    *,
    status: RunStatus | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[PipelineRun]:
    """The session's runs, newest first (keyset: before (created_at, id))."""
    rows = await conn.fetch(
        f"""SELECT {_RUN} FROM pipeline_runs WHERE session_id = $1
              AND ($2::text IS NULL OR status = $2)
              AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
            ORDER BY created_at DESC, id DESC LIMIT $5""",
        session_id,
        status,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )
    runs = [dict(r.items()) for r in rows]
    nodes = await _nodes(conn, [r["id"] for r in runs])
    return [msgspec.convert({**r, "nodes": nodes.get(r["id"], [])}, PipelineRun) for r in runs]


async def _with_nodes(conn: Connection, run: dict[str, Any]) -> PipelineRun:
    nodes = await _nodes(conn, [run["id"]])
    return msgspec.convert({**run, "nodes": nodes.get(run["id"], [])}, PipelineRun)


async def _nodes(conn: Connection, run_ids: list[str]) -> dict[str, list[RunNode]]:
    rows = await conn.fetch(
        """SELECT n.run_id, n.node_id, n.type, n.label, n.upstream, n.job_id, j.status
             FROM pipeline_run_nodes n JOIN compute_jobs j ON j.id = n.job_id
            WHERE n.run_id = ANY($1::text[]) ORDER BY n.run_id, n.position""",
        run_ids,
    )
    found: dict[str, list[RunNode]] = {}
    for r in rows:
        found.setdefault(r["run_id"], []).append(
            RunNode(
                id=r["node_id"],
                type=r["type"],
                label=r["label"],
                upstream=list(r["upstream"]),
                job_id=r["job_id"],
                state=node_state(r["status"]),
            )
        )
    return found
