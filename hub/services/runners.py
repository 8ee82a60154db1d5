"""Runners: their keys (a person's or a space's, scoped to job kinds) and what a runner
does with one: claim the oldest queued job it may serve, hold it by heartbeat, report
progress, log lines and the result.

A runner serves the jobs of sessions drawing on a pool of its key's owner: a person's
key, that person's pools; a space's key, that space's pools. It claims only kinds its
key names (`forbidden` for others). Every report names the attempt it claimed and is
refused `lease_lost` unless the runner still holds that attempt (`check_held`), so a
runner that lost its lease (and the job went to another) can never touch it again.
"""

from __future__ import annotations

from nanoid import generate as nanoid

from hub.api.jobs import (
    Claimed,
    CreatedRunnerKey,
    LogLines,
    NewRunnerKey,
    ProgressReport,
    ResultReport,
)
from hub.config import Config
from hub.domain import Principal, UserPrincipal
from hub.domain.jobs import (
    HUB_AUTHOR,
    MAX_LOG_ENTRIES,
    RUNNER_KEY_PREFIX,
    Job,
    RunnerKey,
    RunnerPrincipal,
    check_held,
    end_content,
    result_charge,
)
from hub.domain.messages import Message
from hub.errors import HubError
from hub.protocol import ArtifactEvent, Event, JobEvent, JobLogEvent
from hub.security import hash_token, new_key
from hub.services.attachments import UploadGuard
from hub.services.events import Events
from hub.services.jobs import end_job
from hub.services.pipelines import latest, lock_run_of_job
from hub.services.pools import owned_space
from hub.store import Connection, Store, changes, message_batch
from hub.store import artifacts as artifact_store
from hub.store import attachments as attachment_store
from hub.store import jobs as job_store
from hub.store import runners as runner_store
from hub.store import spaces as space_store
from hub.store.jobs import LockedJob
from hub.store.messages import NewMessage

__all__ = ["Runners"]


class Runners:
    def __init__(self, config: Config, store: Store, events: Events) -> None:
        self._store = store
        self._events = events
        self.lease_seconds = config.job_lease_seconds

    # --- keys (a person, with a user key) ----------------------------------------------

    async def create_key(self, who: UserPrincipal, req: NewRunnerKey) -> CreatedRunnerKey:
        """A runner key of the caller's, or of a space they own; its text shown once."""
        token = new_key(RUNNER_KEY_PREFIX)
        async with self._store.transaction() as conn:
            space_id = None
            if req.space is not None:
                space_id = await owned_space(conn, req.space, who.user_id, "manage")
            key = await runner_store.add_runner_key(
                conn,
                "rkey_" + str(nanoid(size=16)),
                name=req.name,
                kinds=req.kinds,
                key_hash=hash_token(token),
                user_id=None if space_id else who.user_id,
                space_id=space_id,
                created_by=who.user_id,
            )
            await changes.audit(
                conn,
                who,
                who.user_id,
                "runner_key.created",
                {"key_id": key.id, "kinds": key.kinds, "space_id": space_id},
            )
        return CreatedRunnerKey(key=key, token=token)

    async def keys(self, who: UserPrincipal, space: str | None) -> list[RunnerKey]:
        """The caller's runner keys, or a space's (its owners)."""
        async with self._store.connection() as conn:
            if space is None:
                return await runner_store.list_runner_keys(conn, user_id=who.user_id, space_id=None)
            space_id = await owned_space(conn, space, who.user_id, "manage")
            return await runner_store.list_runner_keys(conn, user_id=None, space_id=space_id)

    async def revoke_key(self, who: UserPrincipal, key_id: str) -> RunnerKey:
        """Revoke a key of the caller's or of a space they own (again: no change)."""
        async with self._store.transaction() as conn:
            owner = await runner_store.owner_of(conn, key_id)
            missing = HubError("not_found", f"no runner key {key_id[:64]!r}")
            if owner is None:
                raise missing
            user_id, space_id = owner
            if user_id is not None and user_id != who.user_id:
                raise missing
            if space_id is not None:
                role = await space_store.member_role(conn, space_id, who.user_id)
                if role != "owner":
                    raise missing
            key = await runner_store.revoke_runner_key(conn, key_id)
            await changes.audit(conn, who, who.user_id, "runner_key.revoked", {"key_id": key_id})
        return key

    # --- running (a runner, with its runner key) -------------------------------------

    async def authenticate(self, token: str | None) -> RunnerPrincipal:
        if not token or not token.startswith(RUNNER_KEY_PREFIX) or len(token) > 100:
            raise HubError("unauthorized", "a valid runner key (rnk_…) is required")
        async with self._store.connection() as conn:
            found = await runner_store.runner_for_key(conn, hash_token(token))
        if found is None:
            raise HubError("unauthorized", "unknown or revoked runner key")
        return found

    async def claim(self, runner: RunnerPrincipal, kinds: list[str] | None) -> Claimed | None:
        """The oldest queued job of `kinds` (default: the key's) the runner may serve,
        now held by it; None if there is none."""
        wanted = list(runner.kinds) if kinds is None else kinds
        other = set(wanted) - set(runner.kinds)
        if other:
            raise HubError("forbidden", f"this runner key does not serve {sorted(other)[0]!r}")
        async with self._store.transaction() as conn:
            job = await job_store.claim(conn, runner, wanted, self.lease_seconds)
            if job is None:
                return None
            await changes.record(
                conn,
                job.session_id,
                runner.key_id,
                "system",
                "job.claimed",
                {"job_id": job.id, "attempt": job.attempts, "runner": runner.name},
                outbox=("job.updated", JobEvent(job=job)),
            )
        await self._events.publish(job.session_id, JobEvent(job=job))
        assert job.lease_until is not None
        return Claimed(
            job=job,
            attempt=job.attempts,
            lease_until=job.lease_until,
            lease_seconds=self.lease_seconds,
        )

    async def _held(
        self, conn: Connection, runner: RunnerPrincipal, job_id: str, attempt: int
    ) -> LockedJob:
        locked = await job_store.lock_job(conn, job_id)
        if locked is None:
            raise HubError("not_found", f"no job {job_id[:64]!r}")
        job = locked.job
        check_held(
            status=job.status,
            holder=job.runner_key_id,
            attempts=job.attempts,
            lease_until=job.lease_until,
            now=locked.now,
            runner=runner,
            attempt=attempt,
        )
        return locked

    async def input_reader(
        self, runner: RunnerPrincipal, job_id: str, attempt: int, attachment_id: str
    ) -> Principal:
        """Who reads one of a held job's input attachments: a watch-only reader of the
        job's session (`lease_lost` unless the runner holds the job at `attempt`;
        `not_found` for an attachment that is not one of the job's inputs)."""
        async with self._store.transaction() as conn:
            job = (await self._held(conn, runner, job_id, attempt)).job
        if attachment_id not in job.input_attachments:
            raise HubError("not_found", f"{attachment_id[:64]!r} is not an input of this job")
        return Principal(
            session_id=job.session_id,
            role="observer",
            participant_id=runner.key_id,
            display_name=runner.name,
            watch_only=True,
        )

    async def uploader(
        self, runner: RunnerPrincipal, job_id: str, attempt: int
    ) -> tuple[Principal, UploadGuard]:
        """Who uploads a held job's output file to its session: the runner's key, in the
        role of the agent that asked for the job (`lease_lost` unless the runner holds
        the job at `attempt`); and the guard that checks it still does in the upload's
        transaction, after the bytes arrived."""
        async with self._store.transaction() as conn:
            job = (await self._held(conn, runner, job_id, attempt)).job

        async def still_held(conn: Connection) -> None:
            await self._held(conn, runner, job_id, attempt)

        who = Principal(
            session_id=job.session_id,
            role=job.requested_role,
            participant_id=runner.key_id,
            display_name=runner.name,
        )
        return who, still_held

    async def heartbeat(self, runner: RunnerPrincipal, job_id: str, attempt: int) -> Job:
        """Renew the lease on a job the runner holds (`lease_lost` otherwise)."""
        async with self._store.transaction() as conn:
            locked = await self._held(conn, runner, job_id, attempt)
            locked.job.lease_until = await job_store.renew(conn, job_id, self.lease_seconds)
        return locked.job

    async def progress(self, runner: RunnerPrincipal, job_id: str, req: ProgressReport) -> Job:
        async with self._store.transaction() as conn:
            await self._held(conn, runner, job_id, req.attempt)
            job = await job_store.set_progress(
                conn, job_id, req.progress, req.message, req.used, self.lease_seconds
            )
        await self._events.publish(job.session_id, JobEvent(job=job))
        return job

    async def log(self, runner: RunnerPrincipal, job_id: str, req: LogLines) -> int:
        """Append log entries (`quota_exceeded` past `MAX_LOG_ENTRIES` per job); the
        job's log count after them."""
        async with self._store.transaction() as conn:
            job = (await self._held(conn, runner, job_id, req.attempt)).job
            if job.log_count + len(req.entries) > MAX_LOG_ENTRIES:
                raise HubError(
                    "quota_exceeded", f"a job keeps at most {MAX_LOG_ENTRIES} log entries"
                )
            entries = await job_store.add_log(
                conn,
                job_id,
                job.log_count + 1,
                req.attempt,
                [(e.level, e.text) for e in req.entries],
                self.lease_seconds,
            )
        await self._events.publish(
            job.session_id, JobLogEvent(session_id=job.session_id, job_id=job_id, entries=entries)
        )
        return job.log_count + len(entries)

    async def result(self, runner: RunnerPrincipal, job_id: str, req: ResultReport) -> Job:
        """End the held job: `succeeded` or `failed`, its output, and the charge (and,
        for a pipeline node's job, advance its run). A result naming attachments or
        making artifacts is announced by a system message carrying them, written in the
        same transaction (the artifacts made on it)."""
        message: Message | None = None
        made: list[ArtifactEvent] = []
        then: list[Event] = []
        async with self._store.transaction() as conn:
            await lock_run_of_job(conn, job_id)
            held = (await self._held(conn, runner, job_id, req.attempt)).job
            await attachment_store.check_session_uploads(
                conn, held.session_id, req.attachments, "not uploads of this session"
            )
            await job_store.check_artifacts(conn, held.session_id, req.artifacts)
            artifacts = list(req.artifacts)
            if req.attachments or req.new_artifacts:
                message = await _announce(conn, held, req)
                for new in req.new_artifacts:
                    artifact = await artifact_store.create_artifact(
                        conn,
                        held.session_id,
                        message_id=message.id,
                        title=new.title,
                        data=new.data,
                        creator=runner.key_id,
                    )
                    assert artifact is not None
                    event = ArtifactEvent(artifact=artifact)
                    await changes.record(
                        conn,
                        held.session_id,
                        runner.key_id,
                        "system",
                        "artifact.created",
                        {
                            "artifact_id": artifact.id,
                            "kind": artifact.kind,
                            "message_id": message.id,
                            "job_id": job_id,
                        },
                        outbox=("artifact.created", event),
                    )
                    made.append(event)
                    artifacts.append(artifact.id)
            charge = result_charge(req.status, req.cost, held.cost_used, held.cost_reserved)
            job = await end_job(
                conn,
                held,
                req.status,
                charge,
                runner.key_id,
                output=req.output,
                attachments=req.attachments,
                artifacts=artifacts,
                error=req.error,
                then=then,
            )
        if message is not None:
            await self._events.publish_messages([message])
        for event in made:
            await self._events.publish(job.session_id, event)
        for after in latest([JobEvent(job=job), *then]):
            await self._events.publish(job.session_id, after)
        return job


async def _announce(conn: Connection, job: Job, req: ResultReport) -> Message:
    """The hub's system message announcing the job's end, carrying its output files."""
    outcome = await message_batch.insert_batch(
        conn,
        [
            NewMessage(
                session_id=job.session_id,
                author_id=HUB_AUTHOR,
                author_role="system",
                content=end_content(
                    job.id, job.kind, req.status, len(req.attachments), len(req.new_artifacts)
                ),
                msg_type="system",
                metadata={"job": {"id": job.id, "kind": job.kind, "status": req.status}},
                attachment_ids=list(req.attachments),
            )
        ],
    )
    (result,) = outcome.results
    if isinstance(result, HubError):
        raise result
    return result[0]
