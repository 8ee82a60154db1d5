"""Group commit: concurrent message writes share one transaction.

Senders `submit` and wait; one task takes everything queued (up to a bound) and commits
it with `insert_batch`. While a batch commits, the next one gathers, so batching adds no
delay when idle and amortises the commit under load. After a commit, the new messages
are handed to `on_commit` in id order before any sender is answered: an ack always
follows the commit, and publication order matches commit order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from hub.domain import Message
from hub.errors import HubError
from hub.store import Store
from hub.store.messages import BatchOutcome, NewMessage, insert_batch

__all__ = ["GroupCommitter"]

log = logging.getLogger("hub.writer")

OnCommit = Callable[[list[Message], list[tuple[str, str]]], Awaitable[None]]
Waiter = asyncio.Future[tuple[Message, bool]]


class GroupCommitter:
    def __init__(self, store: Store, on_commit: OnCommit, *, max_batch: int = 512) -> None:
        self._store = store
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[NewMessage, Waiter]] = asyncio.Queue(max_batch * 8)
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.committed = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hub-group-commit")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            _, waiter = self._queue.get_nowait()
            if not waiter.done():
                waiter.set_exception(HubError("unavailable", "the server is shutting down"))

    async def submit(self, item: NewMessage) -> tuple[Message, bool]:
        """Commit one message (or find the one it retries); returns (message, duplicate)."""
        waiter: Waiter = asyncio.get_running_loop().create_future()
        await self._queue.put((item, waiter))
        return await waiter

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except Exception:  # never let one batch kill the writer
                log.exception("group commit failed")
                for _, waiter in batch:
                    if not waiter.done():
                        waiter.set_exception(HubError("internal", "the message was not saved"))

    async def _commit(self, batch: list[tuple[NewMessage, Waiter]]) -> None:
        items = [item for item, _ in batch]
        try:
            outcome = await self._transact(items)
        except HubError as exc:
            for _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        except asyncpg.PostgresError:
            if len(batch) == 1:
                raise
            # One bad item must not sink the others: commit them one by one.
            log.warning("batch of %d failed; retrying its items alone", len(batch), exc_info=True)
            for single in batch:
                await self._commit([single])
            return
        self.batches += 1
        fresh = [r[0] for r in outcome.results if not isinstance(r, HubError) and not r[1]]
        self.committed += len(fresh)
        try:
            await self._on_commit(fresh, outcome.renamed)
        except Exception:
            log.exception("publishing committed messages failed; receivers will gap-fill")
        for (_, waiter), result in zip(batch, outcome.results, strict=True):
            if waiter.done():
                continue
            if isinstance(result, HubError):
                waiter.set_exception(result)
            else:
                waiter.set_result(result)

    async def _transact(self, items: list[NewMessage]) -> BatchOutcome:
        async with self._store.transaction() as conn:
            return await insert_batch(conn, items)
