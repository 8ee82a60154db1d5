"""Group commit: concurrent message writes share one transaction.

Senders `enqueue` and wait on the returned future. One task takes everything queued
(up to a bound) and commits it with `insert_fresh`: one statement, one round trip, so
the session row locks are held only while PostgreSQL works, never while this process
is busy elsewhere; it refuses bad parents itself. When it cannot decide (a session
closed, a retried `client_msg_id`) the batch is committed again by `insert_batch`,
which decides item by item, and failing that, item by item in transactions of their
own.

A second task settles committed batches in the same order: it hands the new messages to
`on_commit` (publishing them), then answers each sender, so an ack always follows the
commit, while the next batch already commits. While one batch commits the next one
gathers, so batching adds no delay when idle and amortises the commit under load.
Batches commit one after another, so ids follow submission order: one sender's messages
keep the order it sent them in.

Each sender is answered within the store's timeout of its message's arrival: a batch
gets what its oldest message has left of that time, and what it cannot commit in time
is answered `unavailable`. A batch whose outcome is unknown (the database went quiet
while it committed) is answered `unavailable` too, never acked: the sender retries with
the same `client_msg_id` and is answered with the one message, which is then published
again, so receivers get it even if its first commit was never announced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from hub.domain import Message
from hub.errors import HubError
from hub.metrics import Metrics
from hub.store import Store, unavailable_on_failure
from hub.store.message_batch import insert_batch
from hub.store.message_fresh import insert_fresh
from hub.store.messages import BatchOutcome, NewMessage
from hub.tasks import cancel_and_wait

__all__ = ["GroupCommitter"]

log = logging.getLogger("hub.writer")

OnCommit = Callable[[list[Message], list[tuple[str, str]]], Awaitable[None]]
Waiter = asyncio.Future[tuple[Message, bool]]
Batch = list[tuple[NewMessage, Waiter, float]]
"""Each message, its sender's future and the loop time it was queued at."""


class GroupCommitter:
    def __init__(
        self,
        store: Store,
        on_commit: OnCommit,
        *,
        max_batch: int = 512,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._on_commit = on_commit
        self._max_batch = max_batch
        # Unbounded: what waits here is bounded by the callers (each websocket connection
        # has a fixed number of frames in flight).
        self._queue: asyncio.Queue[tuple[NewMessage, Waiter, float]] = asyncio.Queue()
        self._committed: asyncio.Queue[tuple[Batch, BatchOutcome]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._commit_all(), name="hub-group-commit"),
            asyncio.create_task(self._settle_all(), name="hub-group-settle"),
        ]

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        while not self._committed.empty():  # committed: say so, even unpublished
            _answer(*self._committed.get_nowait())
        shutdown = HubError("unavailable", "the server is shutting down")
        while not self._queue.empty():
            _fail([self._queue.get_nowait()], shutdown)

    def enqueue(self, item: NewMessage) -> Waiter:
        """Queue one message; the returned future resolves when it is committed."""
        loop = asyncio.get_running_loop()
        waiter: Waiter = loop.create_future()
        self._queue.put_nowait((item, waiter, loop.time()))
        return waiter

    async def _commit_all(self) -> None:
        while True:
            batch: Batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            started = asyncio.get_running_loop().time()
            try:
                outcome = await self._commit(batch, batch[0][2] + self._store.timeout)
            except asyncio.CancelledError:
                _fail(batch, HubError("unavailable", "the server is shutting down"))
                raise
            except Exception:  # never let one batch kill the worker
                log.exception("group commit failed")
                _fail(batch, HubError("internal", "the message was not saved"))
                continue
            if self._metrics is not None:
                took = asyncio.get_running_loop().time() - started
                self._metrics.batch_committed(len(batch), took)
            self._committed.put_nowait((batch, outcome))

    async def _commit(self, batch: Batch, deadline: float) -> BatchOutcome:
        """Commit `batch` by the loop time `deadline`."""
        items = [item for item, _, _ in batch]
        outcome = None
        try:
            async with unavailable_on_failure(), self._store.connection(_left(deadline)) as conn:
                outcome = await insert_fresh(conn, items)
        except HubError as exc:
            return BatchOutcome([exc] * len(batch), [])
        except asyncpg.PostgresError as exc:
            # Expected (a retried client_msg_id, a parent left out): not worth more than a
            # debug line, and never the error's detail, which quotes the rows' values.
            log.debug(
                "batch of %d not decided in one statement (%s on %s); deciding item by item",
                len(batch),
                type(exc).__name__,
                getattr(exc, "constraint_name", None),
            )
        if outcome is None:
            return await self._commit_exactly(items, deadline)
        return outcome

    async def _commit_exactly(self, items: list[NewMessage], deadline: float) -> BatchOutcome:
        """Commit with `insert_batch` (locks first, then the look-up); if that fails,
        some item is bad: commit them one by one so the others still go through."""
        try:
            async with unavailable_on_failure(), self._store.transaction(_left(deadline)) as conn:
                return await insert_batch(conn, items)
        except HubError as exc:
            return BatchOutcome([exc] * len(items), [])
        except asyncpg.PostgresError:
            if len(items) == 1:
                log.exception("a message could not be saved")
                return BatchOutcome([HubError("internal", "the message was not saved")], [])
            log.warning("batch of %d failed; committing items alone", len(items), exc_info=True)
        outcome = BatchOutcome([], [])
        for item in items:
            single = await self._commit_exactly([item], deadline)
            outcome.results += single.results
            outcome.renamed += single.renamed
        return outcome

    async def _settle_all(self) -> None:
        while True:
            batch, outcome = await self._committed.get()
            try:
                await self._settle(batch, outcome)
            except asyncio.CancelledError:
                _answer(batch, outcome)  # committed: receivers catch up from PostgreSQL
                raise

    async def _settle(self, batch: Batch, outcome: BatchOutcome) -> None:
        """Publish what was committed, then answer every sender. A retry's message is
        published again (receivers drop what they already have): its first commit may
        have gone unannounced, its outcome unknown when the database went quiet."""
        fresh = [r[0] for r in outcome.results if not isinstance(r, HubError) and not r[1]]
        published = fresh
        if len(fresh) < len(outcome.results):
            found = {
                (r[0].session_id, r[0].id): r[0]
                for r in outcome.results
                if not isinstance(r, HubError)
            }
            published = [found[key] for key in sorted(found)]
        if published or outcome.renamed:
            try:
                await self._on_commit(published, outcome.renamed)
            except Exception:
                log.exception("publishing committed messages failed; receivers will gap-fill")
        _answer(batch, outcome)
        if self._metrics is not None:
            now = asyncio.get_running_loop().time()
            self._metrics.batch_settled(len(fresh), now, [at for _, _, at in batch])


def _left(deadline: float) -> float:
    """Seconds from now until the loop time `deadline` (none left: zero)."""
    return max(0.0, deadline - asyncio.get_running_loop().time())


def _answer(batch: Batch, outcome: BatchOutcome) -> None:
    for (_, waiter, _), result in zip(batch, outcome.results, strict=True):
        if waiter.done():
            continue
        if isinstance(result, HubError):
            waiter.set_exception(result)
        else:
            waiter.set_result(result)


def _fail(batch: Batch, error: HubError) -> None:
    for _, waiter, _ in batch:
        if not waiter.done():
            waiter.set_exception(error)
