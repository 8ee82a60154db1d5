"""Jobs: their rows, the queue runners claim from, leases, and logs.

Claiming is one statement: the oldest queued job of the runner's kinds, drawing on a
pool of the runner's owner, taken `FOR UPDATE SKIP LOCKED` and marked running with a new
attempt and a lease, so concurrent claimers on any number of processes never take the
same job. Every other change of a job locks its row first (`lock_job`), then, if money
moves, its pool's (`hub.store.pools`). A lease that ran out is found by `expired`
without a lock and handled by the caller after `lock_expired`, which locks the row only
if its lease is still out: of concurrent sweepers, one handles each expiry, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.domain.jobs import Job, JobLogEntry, JobStatus, RunnerPrincipal
from hub.domain.pools import owner_ref
from hub.errors import HubError
from hub.store import Connection, row_to, rows_to

__all__ = [
    "JOB_COLUMNS",
    "LockedJob",
    "add_log",
    "check_artifacts",
    "claim",
    "expired",
    "finish",
    "get_job",
    "insert_job",
    "list_jobs",
    "lock_expired",
    "lock_job",
    "lock_open_jobs",
    "log_page",
    "renew",
    "requeue",
    "set_progress",
]

JOB_COLUMNS = """id, session_id, pool_id, kind, input, input_attachments, requested_by,
    requested_role, client_job_id, status, progress, progress_message, output,
    output_attachments, output_artifacts, error, cost_reserved, cost_used, cost_charged,
    cost_refunded, attempts, max_attempts, runner_key_id, lease_until, log_count, created_at,
    started_at, finished_at, updated_at"""


class LockedJob:
    """A job row locked by this transaction, with the database's clock."""

    __slots__ = ("job", "now")

    def __init__(self, job: Job, now: datetime) -> None:
        self.job = job
        self.now = now


async def insert_job(
    conn: Connection,
    job_id: str,
    session_id: str,
    pool_id: str,
    *,
    pool_owner: str,
    kind: str,
    input: Any,
    attachments: list[str],
    requested_by: str,
    requested_role: str,
    cost: int,
    max_attempts: int,
    client_job_id: str | None,
    status: JobStatus = "queued",
) -> tuple[Job, bool]:
    """The new job (`queued`, or a pipeline node's `waiting`), or, if the requester made
    one with this `client_job_id` already (committed: a concurrent first attempt is
    waited for), that one; and whether it was that retry."""
    row = await conn.fetchrow(
        f"""INSERT INTO compute_jobs (id, session_id, pool_id, kind, input, input_attachments,
                requested_by, requested_role, cost_reserved, max_attempts, client_job_id,
                pool_owner, status)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (session_id, requested_by, client_job_id)
               WHERE client_job_id IS NOT NULL DO NOTHING
            RETURNING {JOB_COLUMNS}""",
        job_id,
        session_id,
        pool_id,
        kind,
        input,
        attachments,
        requested_by,
        requested_role,
        cost,
        max_attempts,
        client_job_id,
        pool_owner,
        status,
    )
    if row is not None:
        return row_to(row, Job), False
    row = await conn.fetchrow(
        f"""SELECT {JOB_COLUMNS} FROM compute_jobs
             WHERE session_id = $1 AND requested_by = $2 AND client_job_id = $3""",
        session_id,
        requested_by,
        client_job_id,
    )
    assert row is not None
    return row_to(row, Job), True


async def get_job(conn: Connection, session_id: str, job_id: str) -> Job | None:
    row = await conn.fetchrow(
        f"SELECT {JOB_COLUMNS} FROM compute_jobs WHERE id = $1 AND session_id = $2",
        job_id,
        session_id,
    )
    return None if row is None else row_to(row, Job)


async def lock_job(conn: Connection, job_id: str) -> LockedJob | None:
    row = await conn.fetchrow(
        f"SELECT {JOB_COLUMNS}, now() AS now FROM compute_jobs WHERE id = $1 FOR UPDATE",
        job_id,
    )
    if row is None:
        return None
    return LockedJob(row_to(row, Job), row["now"])


async def list_jobs(
    conn: Connection,
    session_id: str,
    *,
    status: JobStatus | None,
    kind: str | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[Job]:
    """The session's jobs, newest first (keyset: before (created_at, id))."""
    rows = await conn.fetch(
        f"""SELECT {JOB_COLUMNS} FROM compute_jobs WHERE session_id = $1
              AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR kind = $3)
              AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
            ORDER BY created_at DESC, id DESC LIMIT $6""",
        session_id,
        status,
        kind,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )
    return rows_to(rows, Job)


async def claim(
    conn: Connection, runner: RunnerPrincipal, kinds: list[str], lease_seconds: float
) -> Job | None:
    """Take the oldest queued job of `kinds` drawing on a pool of the runner's owner:
    running, one more attempt, leased to the runner for `lease_seconds`. The owner's
    queue is read in order from its index, so a claim costs the same however long
    the queues are (it steps over the owner's older jobs of other kinds, and over
    those other claims hold)."""
    row = await conn.fetchrow(
        f"""WITH picked AS (
                SELECT j.id FROM compute_jobs j
                 WHERE j.status = 'queued' AND j.pool_owner = $2
                   AND j.kind = ANY($1::text[])
                 ORDER BY j.created_at, j.id LIMIT 1
                 FOR UPDATE SKIP LOCKED)
            UPDATE compute_jobs j SET status = 'running', attempts = j.attempts + 1,
                   runner_key_id = $3, lease_until = now() + make_interval(secs => $4),
                   started_at = coalesce(j.started_at, now()), updated_at = now()
              FROM picked WHERE j.id = picked.id
            RETURNING {", ".join("j." + c.strip() for c in JOB_COLUMNS.split(","))}""",
        kinds,
        owner_ref(runner.owner_user_id, runner.owner_space_id),
        runner.key_id,
        lease_seconds,
    )
    return None if row is None else row_to(row, Job)


async def renew(conn: Connection, job_id: str, lease_seconds: float) -> datetime:
    """Extend the (locked, held) job's lease to `lease_seconds` from now."""
    until: datetime = await conn.fetchval(
        "UPDATE compute_jobs SET lease_until = now() + make_interval(secs => $2)"
        " WHERE id = $1 RETURNING lease_until",
        job_id,
        lease_seconds,
    )
    return until


async def set_progress(
    conn: Connection,
    job_id: str,
    progress: int,
    message: str,
    used: int | None,
    lease_seconds: float,
) -> Job:
    row = await conn.fetchrow(
        f"""UPDATE compute_jobs SET progress = $2, progress_message = $3,
                   cost_used = least(cost_reserved, greatest(cost_used, coalesce($4, 0))),
                   lease_until = now() + make_interval(secs => $5), updated_at = now()
             WHERE id = $1 RETURNING {JOB_COLUMNS}""",
        job_id,
        progress,
        message,
        used,
        lease_seconds,
    )
    assert row is not None
    return row_to(row, Job)


async def add_log(
    conn: Connection,
    job_id: str,
    first_seq: int,
    attempt: int,
    entries: list[tuple[str, str]],
    lease_seconds: float,
) -> list[JobLogEntry]:
    """Append (level, text) entries from `first_seq` on; counts them on the (locked)
    job and renews its lease."""
    rows = await conn.fetch(
        """INSERT INTO compute_job_logs (job_id, seq, attempt, level, text)
           SELECT $1, $2 + n - 1, $3, e.level, e.text
             FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS e(level, text, n)
           RETURNING seq, attempt, level, text, at""",
        job_id,
        first_seq,
        attempt,
        [level for level, _ in entries],
        [text for _, text in entries],
    )
    await conn.execute(
        "UPDATE compute_jobs SET log_count = log_count + $2,"
        " lease_until = now() + make_interval(secs => $3) WHERE id = $1",
        job_id,
        len(entries),
        lease_seconds,
    )
    return sorted(rows_to(rows, JobLogEntry), key=lambda e: e.seq)


async def log_page(conn: Connection, job_id: str, after: int, limit: int) -> list[JobLogEntry]:
    rows = await conn.fetch(
        "SELECT seq, attempt, level, text, at FROM compute_job_logs"
        " WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        job_id,
        after,
        limit,
    )
    return rows_to(rows, JobLogEntry)


async def finish(
    conn: Connection,
    job_id: str,
    status: JobStatus,
    *,
    charged: int,
    output: Any = None,
    attachments: list[str] | None = None,
    artifacts: list[int] | None = None,
    error: str | None = None,
) -> Job:
    """End the (locked) job in `status`, charged `charged`."""
    row = await conn.fetchrow(
        f"""UPDATE compute_jobs SET status = $2, cost_charged = $3, output = $4,
                   output_attachments = $5, output_artifacts = $6, error = $7,
                   progress = CASE WHEN $2 = 'succeeded' THEN 100 ELSE progress END,
                   lease_until = NULL, finished_at = now(), updated_at = now()
             WHERE id = $1 RETURNING {JOB_COLUMNS}""",
        job_id,
        status,
        charged,
        output,
        attachments or [],
        artifacts or [],
        error,
    )
    assert row is not None
    return row_to(row, Job)


async def requeue(conn: Connection, job_id: str) -> Job:
    """Put the (locked) running job back in the queue, its lease gone."""
    row = await conn.fetchrow(
        f"""UPDATE compute_jobs SET status = 'queued', lease_until = NULL, updated_at = now()
             WHERE id = $1 RETURNING {JOB_COLUMNS}""",
        job_id,
    )
    assert row is not None
    return row_to(row, Job)


async def lock_open_jobs(conn: Connection, session_id: str) -> list[Job]:
    """The session's queued and running jobs, locked (in id order)."""
    rows = await conn.fetch(
        f"""SELECT {JOB_COLUMNS} FROM compute_jobs
             WHERE session_id = $1 AND status IN ('queued', 'running')
             ORDER BY id FOR UPDATE""",
        session_id,
    )
    return rows_to(rows, Job)


async def expired(conn: Connection, limit: int) -> list[str]:
    """Running jobs whose lease ran out, soonest out first (not locked)."""
    rows = await conn.fetch(
        "SELECT id FROM compute_jobs WHERE status = 'running' AND lease_until < now()"
        " ORDER BY lease_until LIMIT $1",
        limit,
    )
    return [r["id"] for r in rows]


async def lock_expired(conn: Connection, job_id: str) -> LockedJob | None:
    """Lock the job if it is still running on a lease that ran out (and no one else
    holds its row): None if another sweeper has it, or it was reported on, renewed or
    cancelled meanwhile."""
    row = await conn.fetchrow(
        f"""SELECT {JOB_COLUMNS}, now() AS now FROM compute_jobs
             WHERE id = $1 AND status = 'running' AND lease_until < now()
             FOR UPDATE SKIP LOCKED""",
        job_id,
    )
    return None if row is None else LockedJob(row_to(row, Job), row["now"])


async def check_artifacts(conn: Connection, session_id: str, ids: list[int]) -> None:
    """Refuse (`bad_request`) unless every id names an artifact of the session."""
    if not ids:
        return
    found = await conn.fetch(
        "SELECT id FROM artifacts WHERE session_id = $1 AND id = ANY($2::bigint[])",
        session_id,
        ids,
    )
    missing = set(ids) - {r["id"] for r in found}
    if missing:
        raise HubError(
            "bad_request",
            "not artifacts of this session: " + ", ".join(str(i) for i in sorted(missing)[:5]),
        )
