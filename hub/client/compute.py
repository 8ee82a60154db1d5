"""The REST API of compute: credit pools (user key), a session's jobs (session tokens),
runner keys (user key) and what a runner does with its key (claim, heartbeat, report).
`hub.client.runner.Runner` drives the runner's side for you."""

from __future__ import annotations

import os
from typing import IO, Any, Literal

from hub.api.jobs import (
    Claim,
    Claimed,
    ClaimResult,
    CreatedRunnerKey,
    Heartbeat,
    JobList,
    JobLogPage,
    Lease,
    LogCount,
    LogLine,
    LogLines,
    NewJob,
    NewRunnerKey,
    OutputArtifact,
    ProgressReport,
    ResultReport,
    RunnerKeyList,
)
from hub.api.pools import Grant, LedgerPage, NewPool, PoolList, Refund, SetSessionPool
from hub.client.attachments import AttachmentsAPI
from hub.domain import Attachment
from hub.domain.jobs import Job, JobLogEntry, LogLevel, RunnerKey
from hub.domain.pools import Pool, SessionPool

__all__ = ["ComputeAPI"]


class ComputeAPI(AttachmentsAPI):
    # --- pools (user key) -------------------------------------------------------------

    async def create_pool(self, user_key: str, name: str, *, space: str | None = None) -> Pool:
        """A new, empty pool of yours (or of a space you own)."""
        body = NewPool(name=name, space=space)
        return await self._typed(Pool, "POST", "/api/pools", token=user_key, body=body)

    async def pools(self, user_key: str) -> list[Pool]:
        return (await self._typed(PoolList, "GET", "/api/pools", token=user_key)).pools

    async def pool(self, user_key: str, pool_id: str) -> Pool:
        return await self._typed(Pool, "GET", f"/api/pools/{pool_id}", token=user_key)

    async def grant(self, user_key: str, pool_id: str, amount: int, note: str = "") -> Pool:
        """Top a pool up by `amount` credits."""
        body = Grant(amount=amount, note=note)
        path = f"/api/pools/{pool_id}/grants"
        return await self._typed(Pool, "POST", path, token=user_key, body=body)

    async def refund(
        self, user_key: str, pool_id: str, job_id: str, amount: int, note: str = ""
    ) -> Pool:
        """Give back `amount` of a finished job's charge to the pool."""
        body = Refund(job_id=job_id, amount=amount, note=note)
        path = f"/api/pools/{pool_id}/refunds"
        return await self._typed(Pool, "POST", path, token=user_key, body=body)

    async def ledger(
        self, user_key: str, pool_id: str, *, before: int | None = None, limit: int = 100
    ) -> LedgerPage:
        """The pool's ledger, newest first (`next_before` for the next page)."""
        params = {"before": before, "limit": limit}
        path = f"/api/pools/{pool_id}/ledger"
        return await self._typed(LedgerPage, "GET", path, token=user_key, params=params)

    async def set_session_pool(self, session_id: str, token: str, pool_id: str) -> SessionPool:
        """Make the session's jobs draw on `pool_id` (agent A's token)."""
        path = f"/api/sessions/{session_id}/pool"
        body = SetSessionPool(pool_id=pool_id)
        return await self._typed(SessionPool, "PUT", path, token=token, body=body)

    async def session_pool(self, session_id: str, token: str) -> SessionPool:
        path = f"/api/sessions/{session_id}/pool"
        return await self._typed(SessionPool, "GET", path, token=token)

    # --- jobs (a session's token) -----------------------------------------------------

    async def create_job(
        self,
        session_id: str,
        token: str,
        kind: str,
        input: Any = None,
        *,
        attachments: list[str] | None = None,
        estimated_cost: int = 0,
        max_attempts: int = 3,
        client_job_id: str | None = None,
    ) -> Job:
        """Queue a job (agents); raises `InsufficientCredits` if the pool holds less
        than `estimated_cost`. Retrying with the same `client_job_id` returns the job
        made the first time."""
        body = NewJob(
            kind=kind,
            input=input,
            attachments=attachments or [],
            estimated_cost=estimated_cost,
            max_attempts=max_attempts,
            client_job_id=client_job_id,
        )
        path = f"/api/sessions/{session_id}/jobs"
        return await self._typed(Job, "POST", path, token=token, body=body)

    async def jobs(
        self,
        session_id: str,
        token: str,
        *,
        status: str | None = None,
        kind: str | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> JobList:
        params = {"status": status, "kind": kind, "before": before, "limit": limit}
        path = f"/api/sessions/{session_id}/jobs"
        return await self._typed(JobList, "GET", path, token=token, params=params)

    async def job(self, session_id: str, token: str, job_id: str) -> Job:
        path = f"/api/sessions/{session_id}/jobs/{job_id}"
        return await self._typed(Job, "GET", path, token=token)

    async def cancel_job(self, session_id: str, token: str, job_id: str) -> Job:
        path = f"/api/sessions/{session_id}/jobs/{job_id}/cancel"
        return await self._typed(Job, "POST", path, token=token)

    async def job_log(
        self, session_id: str, token: str, job_id: str, *, after: int = 0, limit: int = 200
    ) -> list[JobLogEntry]:
        path = f"/api/sessions/{session_id}/jobs/{job_id}/log"
        params = {"after": after, "limit": limit}
        page = await self._typed(JobLogPage, "GET", path, token=token, params=params)
        return page.entries

    # --- runner keys (user key) -------------------------------------------------------

    async def create_runner_key(
        self, user_key: str, name: str, kinds: list[str], *, space: str | None = None
    ) -> CreatedRunnerKey:
        """A runner key for `kinds`; its text (`token`) is in the answer, this once."""
        body = NewRunnerKey(name=name, kinds=kinds, space=space)
        return await self._typed(
            CreatedRunnerKey, "POST", "/api/runner-keys", token=user_key, body=body
        )

    async def runner_keys(self, user_key: str, *, space: str | None = None) -> list[RunnerKey]:
        params = {"space": space}
        found = await self._typed(
            RunnerKeyList, "GET", "/api/runner-keys", token=user_key, params=params
        )
        return found.keys

    async def revoke_runner_key(self, user_key: str, key_id: str) -> RunnerKey:
        path = f"/api/runner-keys/{key_id}"
        return await self._typed(RunnerKey, "DELETE", path, token=user_key)

    # --- running (a runner key) -------------------------------------------------------

    async def claim(self, runner_key: str, kinds: list[str] | None = None) -> Claimed | None:
        """The oldest queued job you may serve, now held by you; None if none waits."""
        body = Claim(kinds=kinds)
        answer = await self._typed(
            ClaimResult, "POST", "/api/runner/claim", token=runner_key, body=body
        )
        return answer.claimed

    async def input_attachment(
        self, runner_key: str, job_id: str, attempt: int, attachment_id: str
    ) -> bytes:
        """The bytes of one of a held job's input attachments, whole, in memory."""
        path = f"/api/runner/jobs/{job_id}/attachments/{attachment_id}/content"
        async with self.stream(path, token=runner_key, params={"attempt": attempt}) as response:
            return await response.read()

    async def upload_output(
        self,
        runner_key: str,
        job_id: str,
        attempt: int,
        source: bytes | str | os.PathLike[str] | IO[bytes],
        *,
        name: str | None = None,
        content_type: str | None = None,
    ) -> Attachment:
        """Upload an output file of a held job to its session (bytes, a local file
        streamed, or a binary file object; named and typed as `upload_attachment`);
        raises `LeaseLost` if you no longer hold the job. Name it in the result."""
        path = f"/api/runner/jobs/{job_id}/attachments"
        params: dict[str, str | int] = {"attempt": attempt}
        return await self._upload_to(path, runner_key, source, name, content_type, params)

    async def heartbeat(self, runner_key: str, job_id: str, attempt: int) -> Lease:
        """Renew your lease; raises `LeaseLost` if you no longer hold the job."""
        path = f"/api/runner/jobs/{job_id}/heartbeat"
        body = Heartbeat(attempt=attempt)
        return await self._typed(Lease, "POST", path, token=runner_key, body=body)

    async def report_progress(
        self,
        runner_key: str,
        job_id: str,
        attempt: int,
        progress: int,
        message: str = "",
        *,
        used: int | None = None,
    ) -> Job:
        path = f"/api/runner/jobs/{job_id}/progress"
        body = ProgressReport(attempt=attempt, progress=progress, message=message, used=used)
        return await self._typed(Job, "POST", path, token=runner_key, body=body)

    async def report_log(
        self, runner_key: str, job_id: str, attempt: int, lines: list[tuple[LogLevel, str]]
    ) -> int:
        """Append (level, text) entries; the job's log count after them."""
        path = f"/api/runner/jobs/{job_id}/log"
        body = LogLines(
            attempt=attempt, entries=[LogLine(text=text, level=level) for level, text in lines]
        )
        return (await self._typed(LogCount, "POST", path, token=runner_key, body=body)).log_count

    async def report_result(
        self,
        runner_key: str,
        job_id: str,
        attempt: int,
        status: Literal["succeeded", "failed"],
        *,
        output: Any = None,
        attachments: list[str] | None = None,
        artifacts: list[int] | None = None,
        new_artifacts: list[OutputArtifact] | None = None,
        cost: int | None = None,
        error: str | None = None,
    ) -> Job:
        """End a held job; `new_artifacts` are made on the hub's message announcing it
        (as are the `attachments` carried)."""
        path = f"/api/runner/jobs/{job_id}/result"
        body = ResultReport(
            attempt=attempt,
            status=status,
            output=output,
            attachments=attachments or [],
            artifacts=artifacts or [],
            new_artifacts=new_artifacts or [],
            cost=cost,
            error=error,
        )
        return await self._typed(Job, "POST", path, token=runner_key, body=body)
