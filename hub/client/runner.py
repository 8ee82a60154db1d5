"""A runner in ten lines: `Runner` claims jobs, holds each by heartbeat, and reports
what your function does with it.

    async def echo(job: RunningJob) -> Any:
        await job.progress(50, "halfway")
        job.log("working on it")
        return {"echo": job.input}          # the output; raise to fail the job

    runner = Runner("http://127.0.0.1:8080", "rnk_…", kinds=["echo"])
    await runner.run(echo)                  # until runner.stop()

Each job runs in its own task beside a heartbeat (every third of the lease). If the hub
says the lease is lost (the job was cancelled, or the lease ran out and another runner
has it), the task is cancelled: it must not report again, and cannot. Returning a value
reports success with that output (all of the reservation charged unless you return a
`Result` with a `cost`); raising reports failure with the exception's text. Log lines
are sent in batches. `stop()` stops claiming; jobs under way finish first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import IO, Any

from hub.api.jobs import Claimed, OutputArtifact
from hub.client.compute import ComputeAPI
from hub.client.errors import HubClientError, LeaseLost
from hub.domain import Attachment
from hub.domain.jobs import MAX_LOG_BATCH, MAX_LOG_TEXT, Job, LogLevel

__all__ = ["OutputArtifact", "Result", "Runner", "RunningJob"]

log = logging.getLogger("hub.client.runner")

LOG_FLUSH_SECONDS = 0.25


@dataclass
class Result:
    """A job's successful end with more than its output: the credits to charge,
    attachments of the session (`await job.upload(...)`) and artifacts it produced:
    ids of the session's, and `new_artifacts` (`OutputArtifact(title=…, data=…)`) the
    hub makes on its message announcing the end."""

    output: Any = None
    cost: int | None = None
    attachments: list[str] = field(default_factory=list)
    artifacts: list[int] = field(default_factory=list)
    new_artifacts: list[OutputArtifact] = field(default_factory=list)


class RunningJob:
    """The job a runner holds: its input, and ways to report on it."""

    def __init__(self, api: ComputeAPI, key: str, claimed: Claimed) -> None:
        self._api = api
        self._key = key
        self.job: Job = claimed.job
        self.attempt = claimed.attempt
        self.lease_seconds = claimed.lease_seconds
        self._lines: list[tuple[LogLevel, str]] = []
        self._log_full = False
        self._wake = asyncio.Event()
        self._sending = asyncio.Lock()

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def input(self) -> Any:
        return self.job.input

    async def attachment(self, attachment_id: str) -> bytes:
        """The bytes of one of the job's input attachments (`job.job.input_attachments`)."""
        return await self._api.input_attachment(self._key, self.id, self.attempt, attachment_id)

    async def upload(
        self,
        source: bytes | str | os.PathLike[str] | IO[bytes],
        *,
        name: str | None = None,
        content_type: str | None = None,
    ) -> Attachment:
        """Upload an output file to the job's session (bytes, a local file streamed, or a
        binary file object); return its id in `Result(attachments=[…])`."""
        return await self._api.upload_output(
            self._key, self.id, self.attempt, source, name=name, content_type=content_type
        )

    async def progress(self, percent: int, message: str = "", *, used: int | None = None) -> None:
        """Report progress (0-100), a message, and the credits used so far."""
        self.job = await self._api.report_progress(
            self._key, self.id, self.attempt, percent, message[:500], used=used
        )

    def log(self, text: str, level: LogLevel = "info") -> None:
        """Queue a log line (sent within a quarter second, in batches). Past the hub's
        limit of entries per job, lines are dropped."""
        if self._log_full:
            return
        self._lines.append((level, text[:MAX_LOG_TEXT]))
        if len(self._lines) >= MAX_LOG_BATCH:
            self._wake.set()

    async def flush(self) -> None:
        """Send the queued log lines now (in order: one batch in flight at a time)."""
        async with self._sending:
            while self._lines:
                batch, self._lines = self._lines[:MAX_LOG_BATCH], self._lines[MAX_LOG_BATCH:]
                try:
                    await self._api.report_log(self._key, self.id, self.attempt, batch)
                except HubClientError as exc:
                    if exc.code != "quota_exceeded":
                        raise
                    log.warning("job %s: its log is full; further lines are dropped", self.id)
                    self._log_full, self._lines = True, []

    async def _keep(self, every: float) -> None:
        """Heartbeat every `every` seconds and flush log lines as they come. A hub that
        does not answer is asked again until the lease would have run out; `LeaseLost`
        (or the lease's end) ends this, and the runner then cancels the job's work."""
        loop = asyncio.get_running_loop()
        beat_at = loop.time() + every
        lease_ends = loop.time() + self.lease_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(LOG_FLUSH_SECONDS, max(0.0, beat_at - loop.time()))):
                    await self._wake.wait()
            self._wake.clear()
            if not self._lines and loop.time() < beat_at:
                continue
            asked = loop.time()
            try:
                if self._lines:
                    await self.flush()  # a log batch renews the lease too
                else:
                    await self._api.heartbeat(self._key, self.id, self.attempt)
            except LeaseLost:
                raise
            except HubClientError as exc:
                if exc.code not in ("unavailable", "internal", "rate_limited", "timeout"):
                    raise
                if loop.time() >= lease_ends:
                    raise LeaseLost("lease_lost", f"the hub did not answer: {exc}") from exc
                log.warning("job %s: renewing the lease failed, again soon: %s", self.id, exc)
                beat_at = loop.time() + min(every, 1.0)
                continue
            beat_at = loop.time() + every
            lease_ends = asked + self.lease_seconds


Handler = Callable[[RunningJob], Coroutine[Any, Any, Any]]


class Runner:
    """Claims jobs of `kinds` (default: all its key's) and runs `handler` on each, at
    most `concurrency` at once."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        kinds: list[str] | None = None,
        concurrency: int = 1,
        idle_poll: float = 1.0,
        api: ComputeAPI | None = None,
    ) -> None:
        self._api = api or ComputeAPI(url)
        self._own_api = api is None
        self._key = key
        self._kinds = kinds
        self._slots = asyncio.Semaphore(concurrency)
        self._idle_poll = idle_poll
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self.done = 0
        """Jobs this runner finished and reported (either way)."""

    def stop(self) -> None:
        """Stop claiming; `run` returns once the jobs under way are finished."""
        self._stopping.set()

    async def run(self, handler: Handler) -> None:
        """Claim and run jobs until `stop()`; a hub that cannot be reached is asked
        again (with a growing pause), an invalid key raises `AuthFailed`."""
        pause = 0.05
        try:
            while not self._stopping.is_set():
                await self._slots.acquire()
                try:
                    claimed = None if self._stopping.is_set() else await self._claim()
                except BaseException:
                    self._slots.release()
                    raise
                if claimed is None:
                    self._slots.release()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(pause):
                            await self._stopping.wait()
                    pause = min(pause * 2, self._idle_poll)
                    continue
                pause = 0.05
                task = asyncio.create_task(self._work(handler, claimed))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
        finally:
            for task in self._running:
                task.cancel()
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            if self._own_api:
                await self._api.close()

    async def _claim(self) -> Claimed | None:
        try:
            return await self._api.claim(self._key, self._kinds)
        except HubClientError as exc:
            if exc.code not in ("unavailable", "internal", "rate_limited"):
                raise
            log.warning("claiming failed: %s", exc)
            return None

    async def _work(self, handler: Handler, claimed: Claimed) -> None:
        job = RunningJob(self._api, self._key, claimed)
        keeper = asyncio.create_task(job._keep(claimed.lease_seconds / 3))
        work: asyncio.Task[Any] = asyncio.create_task(handler(job))
        try:
            await asyncio.wait({keeper, work}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():  # the keeper ended: the lease is lost (or the hub is gone)
                work.cancel()
                with contextlib.suppress(BaseException):
                    await work
                log.warning("job %s: %s", job.id, keeper.exception() if keeper.done() else "")
                return
            async with job._sending:  # a log batch under way is sent, not cut short
                keeper.cancel()
            with contextlib.suppress(BaseException):
                await keeper
            await self._report(job, work)
        except LeaseLost as exc:
            log.warning("job %s: %s", job.id, exc.message)
        except HubClientError as exc:
            log.warning("job %s: reporting failed: %s", job.id, exc)
        finally:
            for task in (keeper, work):
                task.cancel()
            self._slots.release()

    async def _report(self, job: RunningJob, work: asyncio.Task[Any]) -> None:
        await job.flush()
        error = work.exception()
        if error is not None:
            text = str(error) or type(error).__name__
            await self._api.report_result(
                self._key, job.id, job.attempt, "failed", error=text[:2000]
            )
        else:
            answer = work.result()
            done = answer if isinstance(answer, Result) else Result(output=answer)
            await self._api.report_result(
                self._key,
                job.id,
                job.attempt,
                "succeeded",
                output=done.output,
                cost=done.cost,
                attachments=done.attachments,
                artifacts=done.artifacts,
                new_artifacts=done.new_artifacts,
            )
        self.done += 1
