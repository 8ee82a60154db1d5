"""Jobs, the session's side: agents create and cancel them, anyone in the session reads
them and their logs; and the sweeper that takes back jobs whose runner stopped answering.

Creating a job is one transaction: the job row, the reservation of its estimated cost
from the session's pool (one conditional UPDATE: `insufficient_credits` and nothing
written if the pool holds less), the ledger row and the activity row. Ending a job
(cancelled here, succeeded or failed by its runner, timed out by the sweeper) locks the
job's row, then its pool's, settles the reservation (`hub.domain.pools.settle`) and
writes the ledger and activity rows with it. Every change is then a `job` event.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from typing import Any

from hub.api.jobs import JobList, NewJob
from hub.config import Config
from hub.domain import ActivityAction, Principal, require
from hub.domain.cursors import decode_time_cursor, encode_time_cursor
from hub.domain.jobs import (
    Job,
    JobLogEntry,
    JobStatus,
    after_expiry,
    check_cancel,
    new_job_id,
)
from hub.domain.pools import settle
from hub.errors import HubError
from hub.protocol import Event, JobEvent
from hub.services.events import Events
from hub.services.pipelines import advance_after, latest, lock_run_of_job, stop_session_runs
from hub.store import Connection, Store, changes
from hub.store import attachments as attachment_store
from hub.store import jobs as job_store
from hub.store import pools as pool_store
from hub.store import sessions as session_store
from hub.tasks import cancel_and_wait

__all__ = ["Jobs", "cancel_open_jobs", "end_job"]

log = logging.getLogger("hub.jobs")

SWEEP_BATCH = 100


_ENDED: dict[JobStatus, ActivityAction] = {
    "succeeded": "job.succeeded",
    "failed": "job.failed",
    "cancelled": "job.cancelled",
    "timed_out": "job.timed_out",
}


async def end_job(
    conn: Connection,
    job: Job,
    status: JobStatus,
    charge: int,
    actor: str,
    *,
    output: Any = None,
    attachments: list[str] | None = None,
    artifacts: list[int] | None = None,
    error: str | None = None,
    then: list[Event] | None = None,
    record: bool = True,
) -> Job:
    """End the locked `job` in `status`: the reservation settled (at most `charge`
    charged, the rest released), the activity row written; if it is a pipeline node's
    job, its run advanced (`hub.services.pipelines.advance_after`: the caller locked the
    run before the job), the events that makes added to `then` to publish after the
    commit. Without `record`, no activity row (the caller's change writes its own)."""
    settlement = settle(job.cost_reserved, charge)
    ended = await job_store.finish(
        conn,
        job.id,
        status,
        charged=settlement.charged,
        output=output,
        attachments=attachments,
        artifacts=artifacts,
        error=error,
    )
    await pool_store.release_reservation(conn, job.pool_id, job.id, settlement, actor)
    if record:
        await changes.record(
            conn,
            job.session_id,
            actor,
            "system",
            _ENDED[status],
            {"job_id": job.id, "charged": settlement.charged, "released": settlement.released},
            outbox=("job.updated", JobEvent(job=ended)),
        )
    else:
        await changes.outbox(conn, job.session_id, "job.updated", JobEvent(job=ended))
    await advance_after(conn, ended, actor, then)
    return ended


async def cancel_open_jobs(conn: Connection, session_id: str, actor: str) -> int:
    """Cancel the session's queued and running jobs (it is being deleted: nobody can
    cancel them afterwards), in the caller's transaction; how many. Its running
    pipeline runs end cancelled (their pending nodes skipped)."""
    await stop_session_runs(conn, session_id, actor)
    jobs = await job_store.lock_open_jobs(conn, session_id)
    for job in jobs:
        await end_job(conn, job, "cancelled", job.cost_used, actor)
    return len(jobs)


class Jobs:
    def __init__(self, config: Config, store: Store, events: Events) -> None:
        self._store = store
        self._events = events
        self._interval = config.job_sweep_interval
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="hub-job-sweeper")

    async def close(self) -> None:
        await cancel_and_wait([self._sweeper])

    async def create(self, who: Principal, req: NewJob) -> tuple[Job, bool]:
        """Queue a job (agents), reserving its estimated cost from the session's pool;
        (the job, whether it was a retry of a create with its `client_job_id`)."""
        require(who, "run_jobs")
        async with self._store.transaction() as conn:
            await session_store.hold_for_write(conn, who.session_id)
            drawn = await pool_store.session_pool_id(conn, who.session_id)
            if drawn is None:
                raise HubError(
                    "bad_request",
                    "this session draws on no pool: agent A sets one (PUT …/pool)",
                )
            pool_id, pool_owner = drawn
            await attachment_store.check_session_uploads(
                conn, who.session_id, req.attachments, "not uploads of this session"
            )
            job, retry = await job_store.insert_job(
                conn,
                new_job_id(),
                who.session_id,
                pool_id,
                pool_owner=pool_owner,
                kind=req.kind,
                input=req.input,
                attachments=req.attachments,
                requested_by=who.participant_id,
                requested_role=who.role,
                cost=req.estimated_cost,
                max_attempts=req.max_attempts,
                client_job_id=req.client_job_id,
            )
            if retry:
                return job, True
            await pool_store.reserve(conn, pool_id, req.estimated_cost, job.id, who.participant_id)
            event = JobEvent(job=job)
            await changes.record_as(
                conn,
                who,
                "job.created",
                {"job_id": job.id, "kind": job.kind, "reserved": job.cost_reserved},
                outbox=("job.created", event),
            )
        await self._events.publish(who.session_id, event)
        return job, False

    async def get(self, who: Principal, job_id: str) -> Job:
        require(who, "read")
        async with self._store.connection() as conn:
            job = await job_store.get_job(conn, who.session_id, job_id)
        if job is None:
            raise HubError("not_found", f"no job {job_id[:64]!r} in this session")
        return job

    async def log(self, who: Principal, job_id: str, after: int, limit: int) -> list[JobLogEntry]:
        await self.get(who, job_id)
        async with self._store.connection() as conn:
            return await job_store.log_page(conn, job_id, after, limit)

    async def list(
        self,
        who: Principal,
        *,
        status: JobStatus | None,
        kind: str | None,
        before: str | None,
        limit: int,
    ) -> JobList:
        """The session's jobs, newest first."""
        require(who, "read")
        async with self._store.connection() as conn:
            jobs = await job_store.list_jobs(
                conn,
                who.session_id,
                status=status,
                kind=kind,
                before=decode_time_cursor(before) if before else None,
                limit=limit,
            )
        last = jobs[-1] if len(jobs) == limit else None
        return JobList(
            jobs=jobs,
            next_before=encode_time_cursor(last.created_at, last.id) if last else None,
        )

    async def cancel(self, who: Principal, job_id: str) -> Job:
        """Cancel a queued or running job (agents): what its runner reported as used is
        charged, the rest released; its runner's next report gets `lease_lost`."""
        require(who, "run_jobs")
        then: list[Event] = []
        async with self._store.transaction() as conn:
            await lock_run_of_job(conn, job_id)
            locked = await job_store.lock_job(conn, job_id)
            if locked is None or locked.job.session_id != who.session_id:
                raise HubError("not_found", f"no job {job_id[:64]!r} in this session")
            check_cancel(locked.job.status)
            job = await end_job(
                conn, locked.job, "cancelled", locked.job.cost_used, who.participant_id, then=then
            )
        for event in latest([JobEvent(job=job), *then]):
            await self._events.publish(who.session_id, event)
        return job

    async def sweep(self) -> int:
        """Take back every job whose lease ran out (at most a batch): back to the queue,
        or `timed_out` after its last attempt. Of concurrent sweepers, on any process,
        each expiry is handled by one; returns how many this call handled."""
        async with self._store.connection() as conn:
            due = await job_store.expired(conn, SWEEP_BATCH)
        handled = 0
        for job_id in due:
            then: builtins.list[Event] = []
            try:
                job = await self._take_back(job_id, then)
            except HubError as exc:
                if exc.code == "unavailable":
                    raise
                log.warning("could not take back job %s: %s", job_id, exc.message)
                continue
            except Exception:  # one job's failure must not stop the sweep of the others
                log.exception("could not take back job %s", job_id)
                continue
            if job is not None:
                handled += 1
                for event in latest([JobEvent(job=job), *then]):
                    await self._events.publish(job.session_id, event)
        return handled

    async def _take_back(self, job_id: str, then: builtins.list[Event]) -> Job | None:
        """Requeue or time out one job whose lease ran out, unless someone else did (or
        it was renewed, reported on or cancelled) meanwhile: then None."""
        async with self._store.transaction() as conn:
            await lock_run_of_job(conn, job_id)
            locked = await job_store.lock_expired(conn, job_id)
            if locked is None:
                return None
            old = locked.job
            if after_expiry(old.attempts, old.max_attempts) == "queued":
                job = await job_store.requeue(conn, job_id)
                await changes.record(
                    conn,
                    old.session_id,
                    old.runner_key_id or "hub",
                    "system",
                    "job.requeued",
                    {"job_id": job_id, "attempt": old.attempts},
                    outbox=("job.updated", JobEvent(job=job)),
                )
                return job
            return await end_job(
                conn,
                old,
                "timed_out",
                old.cost_used,
                "hub",
                error=f"no runner finished it in {old.attempts} attempt(s)",
                then=then,
            )

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sweep()
            except HubError as exc:
                log.warning("job sweep failed: %s", exc.message)
            except Exception:
                log.exception("job sweep failed")
