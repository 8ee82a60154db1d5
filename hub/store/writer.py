"""Group commit: concurrent message writes share one transaction.

Senders `enqueue` and wait on the returned future. A few workers each take everything
queued (up to a bound) and commit it with `insert_batch`; while one batch commits, the
next one gathers, so batching adds no delay when idle and amortises the commit under load.

Workers overlap (one commits while another publishes), but they take their session row
locks strictly in queue order: a worker holds `_order` from taking its batch until its
`SELECT … FOR UPDATE` returns. So ids follow submission order: one sender's messages
keep the order it sent them in. After a commit, the new messages are handed to
`on_commit` in id order before any sender is answered: an ack always follows the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from hub.domain import Message
from hub.errors import HubError
from hub.store import Store, unavailable_on_failure
from hub.store.messages import BatchOutcome, NewMessage, insert_batch, lock_sessions, look_up

__all__ = ["GroupCommitter"]

log = logging.getLogger("hub.writer")

OnCommit = Callable[[list[Message], list[tuple[str, str]]], Awaitable[None]]
Waiter = asyncio.Future[tuple[Message, bool]]
Batch = list[tuple[NewMessage, Waiter]]


class GroupCommitter:
    def __init__(
        self, store: Store, on_commit: OnCommit, *, max_batch: int = 512, workers: int = 2
    ) -> None:
        self._store = store
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._workers = workers
        # Unbounded: what waits here is bounded by the callers (each websocket connection
        # has a fixed number of frames in flight).
        self._queue: asyncio.Queue[tuple[NewMessage, Waiter]] = asyncio.Queue()
        self._order = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.batches = 0
        self.committed = 0

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"hub-group-commit-{n}")
            for n in range(self._workers)
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._queue.empty():
            _, waiter = self._queue.get_nowait()
            if not waiter.done():
                waiter.set_exception(HubError("unavailable", "the server is shutting down"))

    def enqueue(self, item: NewMessage) -> Waiter:
        """Queue one message; the returned future resolves when it is committed."""
        waiter: Waiter = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, waiter))
        return waiter

    async def _run(self) -> None:
        while True:
            batch: Batch = []
            try:
                await self._commit_next(batch)
            except asyncio.CancelledError:
                _fail(batch, HubError("unavailable", "the server is shutting down"))
                raise
            except Exception:  # never let one batch kill the worker
                log.exception("group commit failed")
                _fail(batch, HubError("internal", "the message was not saved"))

    async def _commit_next(self, batch: Batch) -> None:
        """Take the next batch and commit it. The look-up of retried `client_msg_id`s
        runs before the session locks, while the other worker still holds them."""
        pool = self._store.pool
        try:
            async with unavailable_on_failure():
                async with self._order:
                    batch.append(await self._queue.get())
                    conn = await pool.acquire(timeout=10)
                    try:
                        while len(batch) < self._max_batch and not self._queue.empty():
                            batch.append(self._queue.get_nowait())
                        items = [item for item, _ in batch]
                        known = await look_up(conn, items)
                        tx = conn.transaction()
                        await tx.start()
                        sessions = await lock_sessions(conn, items)
                    except BaseException:
                        await pool.release(conn)
                        raise
                try:
                    outcome = await insert_batch(conn, items, sessions, known)
                    await tx.commit()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await tx.rollback()
                    raise
                finally:
                    await pool.release(conn)
        except HubError as exc:
            _fail(batch, exc)
            return
        except asyncpg.PostgresError:
            log.info("batch of %d failed; committing it again under lock", len(batch))
            async with self._order:  # keep queue order against the other workers
                await self._commit_again(batch)
            return
        await self._settle(batch, outcome)

    async def _commit_again(self, batch: Batch) -> None:
        """Commit a failed batch with the session locks taken before the look-up (a retry
        committed between look-up and lock can no longer slip through); if it still
        fails, some item is bad: commit them one by one."""
        try:
            async with self._store.transaction() as conn:
                outcome = await insert_batch(conn, [item for item, _ in batch])
        except HubError as exc:
            _fail(batch, exc)
            return
        except asyncpg.PostgresError:
            if len(batch) == 1:
                log.exception("a message could not be saved")
                _fail(batch, HubError("internal", "the message was not saved"))
                return
            log.warning("batch of %d failed; retrying its items alone", len(batch), exc_info=True)
            for single in batch:
                await self._commit_again([single])
            return
        await self._settle(batch, outcome)

    async def _settle(self, batch: Batch, outcome: BatchOutcome) -> None:
        """Publish what was committed, then answer every sender."""
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


def _fail(batch: Batch, error: HubError) -> None:
    for _, waiter in batch:
        if not waiter.done():
            waiter.set_exception(error)
