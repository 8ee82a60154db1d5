"""The webhook delivery loop: `hub worker` runs it, and `hub serve` runs it in-process
unless told not to (`HUB_DELIVER_WEBHOOKS=false`).

Where events come from. The outbox of `message.created` is the messages table itself:
ids are gap-free per session and allocated in commit order under the session's row
lock, so "everything after id N" is exact, and a message that did not commit is never
seen. The send path (group commit, tens of thousands of messages a second) therefore
writes nothing for webhooks, whether or not any endpoint listens; the work is done
here, per stream (one endpoint, one session), whose row keeps the last id delivered.
An outbox table written in the send path would cost a row per message and endpoint,
and a "which sessions have endpoints" cache in every web process, invalidated across
processes, would race with registration; reading the log needs neither.

Every other change (a note, a file, a status, a deletion, a rating, an upload, an
artifact, an approval's decision, an interrupt) writes its own outbox row in its
transaction (`hub.store.changes.outbox`, in `webhook_events`: ids
gap-free and in commit order per session too), only while an endpoint could want it. A
stream keeps a cursor in each (`after_message_id`, `after_event_id`) and delivers the
two merged by time: each in its own id order, exactly; between the two, by the time of
the change.

How streams are shared. A worker opens streams for sessions that came into an
endpoint's scope (`discover_streams`), then leases due streams with FOR UPDATE SKIP
LOCKED (`claim_streams`): several workers share the load, never the same stream at
once, and no more of one endpoint's streams than `webhook_endpoint_concurrency` (a slow
endpoint hearing many sessions would otherwise fill every slot and hold up the rest).
It delivers a stream's events one at a time, in id order, and moves the stream's cursor
past each only after a 2xx (in one transaction with the attempt's log row and
the lease's renewal). A worker killed mid-delivery moved nothing: when its lease runs
out another worker delivers the same event again, with the same `webhook-id`
(at-least-once; receivers deduplicate by it). A failure schedules the stream's next
attempt (the retry schedule, with jitter; a longer `Retry-After` wins) and lets it go,
so a failing endpoint holds up only its own streams. 410 Gone disables the endpoint,
as does failing without a success for `webhook_disable_after`.

Who may hear what is checked at every delivery, on the grounds `watch_grounds` checks
for watching (a person's agent in the session, or their membership of its space).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import msgspec
from aiohttp import web
from aiohttp.abc import AbstractResolver
from nanoid import generate as nanoid
from standardwebhooks import Webhook as Signer

from hub.config import Config
from hub.domain import Message
from hub.domain.webhooks import (
    event_webhook_id,
    filter_matches,
    message_webhook_id,
    retry_delay,
    scope_allows,
)
from hub.errors import HubError
from hub.metrics import CONTENT_TYPE_LATEST, Metrics
from hub.protocol import MessageEvent
from hub.store import Connection, Store
from hub.store import sessions as session_store
from hub.store import webhooks as webhook_store
from hub.store.messages import list_messages
from hub.store.webhooks import Attempt, Claim, OutboxEvent, Target
from hub.tasks import cancel_and_wait
from hub.vault import Keyring, Unreadable
from hub.worker.egress import Outcome, Sender

__all__ = ["Item", "WebhookWorker", "event_item", "may_hear", "message_item", "signers_of"]

log = logging.getLogger("hub.worker.webhooks")

PRUNE_LOCK = 0x68756277  # "hubw": the advisory lock of one pruning worker at a time
PRUNE_INTERVAL = 3600.0
"""Seconds between a worker's deletions of what outlived `webhook_retention_days`."""
COUNT_INTERVAL = 5.0
"""Seconds between counts of the queue for the metrics (a scan of every stream)."""
PAGE = 100
"""Messages (and outbox events) read per round trip while delivering one stream."""
_encoder = msgspec.json.Encoder()


class _Body(msgspec.Struct):
    """A delivery's body: `{type, timestamp, data}` (`api.WebhookEvent`), `data` the
    websocket event already encoded."""

    type: str
    timestamp: datetime
    data: msgspec.Raw


@dataclass(frozen=True, slots=True)
class Item:
    """One event of a stream, ready to send: its `webhook-id`, type, session, body,
    when it happened, and the stream's cursors once it is done."""

    webhook_id: str
    event_type: str
    session_id: str
    body: bytes
    at: datetime
    done: tuple[int, int]


def message_item(message: Message, after_event: int) -> Item:
    data = msgspec.Raw(_encoder.encode(MessageEvent(message=message)))
    body = _encoder.encode(_Body("message.created", message.created_at, data))
    return Item(
        message_webhook_id(message.session_id, message.id),
        "message.created",
        message.session_id,
        body,
        message.created_at,
        (message.id, after_event),
    )


def event_item(session_id: str, event: OutboxEvent, after_message: int) -> Item:
    data = msgspec.Raw(event.payload.encode())
    body = _encoder.encode(_Body(event.event_type, event.occurred_at, data))
    return Item(
        event_webhook_id(session_id, event.id),
        event.event_type,
        session_id,
        body,
        event.occurred_at,
        (after_message, event.id),
    )


def _merge(
    session_id: str,
    messages: list[Message],
    events: list[OutboxEvent],
    after: tuple[int, int],
) -> list[Item]:
    """The two pages as one stream: each in its id order, the two by time. A full page
    ends the merge where it ends (what follows it may come before the other's rest)."""
    items: list[Item] = []
    m = e = 0
    after_message, after_event = after
    while m < len(messages) or e < len(events):
        if m < len(messages) and (
            e >= len(events) or messages[m].created_at <= events[e].occurred_at
        ):
            after_message = messages[m].id
            items.append(message_item(messages[m], after_event))
            m += 1
        else:
            after_event = events[e].id
            items.append(event_item(session_id, events[e], after_message))
            e += 1
        if (m == len(messages) == PAGE and e < len(events)) or (
            e == len(events) == PAGE and m < len(messages)
        ):
            break
    return items


async def may_hear(conn: Connection, found: Target, session_id: str) -> bool:
    """Whether the endpoint may hear the session now (a deleted one too: what happened
    up to its deletion is still delivered)."""
    if found.scope.user_id is None:
        return found.scope.session_id == session_id
    grounds = await session_store.watch_grounds(
        conn, session_id, found.scope.user_id, include_deleted=True
    )
    if grounds is None:
        return False
    return scope_allows(
        found.scope,
        session_id,
        grounds.session.workspace_id,
        grounds.own_agent,
        grounds.space_role,
    )


async def signers_of(conn: Connection, keyring: Keyring, endpoint_id: str) -> list[Signer]:
    """The endpoint's live secrets, opened (two during a rotation's overlap)."""
    signers = []
    for secret_id, sealed in await webhook_store.live_secrets(conn, endpoint_id):
        try:
            secret = keyring.decrypt(endpoint_id, secret_id, sealed).decode()
        except Unreadable as exc:
            log.warning("a secret of webhook %s does not open: %s", endpoint_id, exc)
            continue
        signers.append(Signer(secret))
    return signers


class WebhookWorker:
    """Delivers webhooks from one process; as many may run as wanted, anywhere."""

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        config: Config,
        *,
        worker_id: str | None = None,
        resolver: AbstractResolver | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._resolver = resolver
        self._metrics = metrics
        self._counted_at = 0.0
        self._pruned_at: float | None = None
        self._store = store
        self._keyring = keyring
        self._config = config
        self._schedule = config.retry_schedule()
        self.worker_id = worker_id or f"{socket.gethostname()[:40]}:{os.getpid()}:{nanoid(size=6)}"
        self._task: asyncio.Task[None] | None = None
        self._busy: dict[tuple[str, str], asyncio.Task[None]] = {}  # stream -> delivery
        self._sender: Sender | None = None
        self._discovered_at = 0.0
        self._rounds = 0
        self.delivered = 0
        """Events this worker delivered (answered 2xx, recorded)."""
        self.attempts = 0
        """Attempts this worker made and recorded (committed)."""
        self.tried: Counter[str] = Counter()
        """Those attempts by endpoint id."""
        self._progress = asyncio.Condition()

    def start(self) -> None:
        self._sender = Sender(
            self._config.webhook_allowance(),
            timeout=self._config.webhook_timeout,
            connections=2 * self._config.webhook_concurrency,
            resolver=self._resolver,
            metrics=self._metrics,
        )
        self._task = asyncio.create_task(self._run(), name="hub-webhook-worker")

    async def close(self) -> None:
        """Stop: deliveries under way are cancelled (their streams stay leased until the
        lease runs out, as if the process had died: nothing is lost)."""
        await cancel_and_wait([self._task, *self._busy.values()])
        self._busy.clear()
        if self._sender is not None:
            await self._sender.close()

    async def _run(self) -> None:
        poll = self._config.webhook_poll_interval
        while True:
            try:
                claimed = await self.round()
            except HubError as exc:
                log.warning("webhook worker: %s", exc.message)
                claimed = 0
            except Exception:
                log.exception("webhook worker round failed")
                claimed = 0
            free = self._config.webhook_concurrency - len(self._busy)
            if claimed and free > 0:
                continue  # more may be due
            if self._busy:
                await asyncio.wait(self._busy.values(), timeout=poll, return_when="FIRST_COMPLETED")
            else:
                await asyncio.sleep(poll)

    async def round(self) -> int:
        """One look for work: open new streams (at most once a poll interval), lease
        what is due up to the free delivery slots and start delivering it. Returns how
        many streams it leased."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._discovered_at >= self._config.webhook_poll_interval:
            self._discovered_at = loop.time()
            async with self._store.transaction() as conn:
                wanted = [
                    endpoint_id for endpoint_id, _ in await webhook_store.wanting_endpoints(conn)
                ]
                await webhook_store.discover_streams(conn, wanted)
        if self._pruned_at is None or loop.time() - self._pruned_at >= PRUNE_INTERVAL:
            self._pruned_at = loop.time()
            await self.prune()
        if self._metrics is not None and loop.time() - self._counted_at >= COUNT_INTERVAL:
            self._counted_at = loop.time()
            await self.count_queue()
        free = self._config.webhook_concurrency - len(self._busy)
        if free <= 0:
            return 0
        self._rounds += 1
        async with self._store.transaction() as conn:
            claims = await webhook_store.claim_streams(
                conn,
                f"{self.worker_id}/{self._rounds}",
                free,
                self._config.webhook_lease,
                self._config.webhook_endpoint_concurrency,
            )
        for claim in claims:
            key = (claim.endpoint_id, claim.session_id)
            task = asyncio.create_task(self._deliver_stream(claim), name="hub-webhook-stream")
            self._busy[key] = task
            task.add_done_callback(self._forget)
        return len(claims)

    async def prune(self) -> tuple[int, int]:
        """Delete the delivery log's attempts and the outbox's events older than
        `webhook_retention_days`, a batch at a time (one worker at a time: the others
        skip it); returns how many of each went."""
        older = self._config.webhook_retention_days * 86_400.0
        gone = [0, 0]
        while True:
            async with self._store.transaction() as conn:
                if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", PRUNE_LOCK):
                    break
                attempts, events = await webhook_store.prune(conn, older)
            gone[0] += attempts
            gone[1] += events
            if max(attempts, events) < webhook_store.PRUNE_BATCH:
                break
        if any(gone):
            log.info("pruned %d webhook attempts and %d outbox events", *gone)
        return gone[0], gone[1]

    async def count_queue(self) -> tuple[int, int]:
        """Count the queue for the metrics: (events waiting, streams due)."""
        async with self._store.connection() as conn:
            waiting, due = await webhook_store.queue_depth(conn)
        if self._metrics is not None:
            self._metrics.webhook_queue(waiting, due)
        return waiting, due

    def _forget(self, task: asyncio.Task[None]) -> None:
        for key, running in list(self._busy.items()):
            if running is task:
                del self._busy[key]

    async def _deliver_stream(self, claim: Claim) -> None:
        try:
            await self._deliver(claim)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The lease runs out and the stream is taken again: nothing is lost.
            log.exception("delivering to webhook %s failed", claim.endpoint_id)

    async def _deliver(self, claim: Claim) -> None:
        """Deliver the stream's events in order until none is left, one fails, or the
        lease is lost. The endpoint, the grounds to hear the session and the secrets
        are read again for each page, so a change applies within one page."""
        after = (claim.after_message_id, claim.after_event_id)
        attempts = claim.attempts
        while True:
            async with self._store.connection() as conn:
                found = await webhook_store.target(conn, claim.endpoint_id)
                if found is None or not found.enabled:
                    await webhook_store.release(conn, claim)
                    return
                if not await may_hear(conn, found, claim.session_id):
                    await webhook_store.drop_stream(conn, claim)
                    return
                messages = await list_messages(conn, claim.session_id, after=after[0], limit=PAGE)
                events = await webhook_store.list_events(conn, claim.session_id, after[1], PAGE)
                if not messages and not events:
                    await webhook_store.release(conn, claim)
                    return
                signers = await signers_of(conn, self._keyring, found.id)
            skipped = False
            for item in _merge(claim.session_id, messages, events, after):
                if not filter_matches(found.event_types, item.event_type):
                    after, skipped = item.done, True
                    continue
                attempts += 1
                if not await self._attempt(claim, found, signers, item, attempts):
                    return
                after, attempts, skipped = item.done, 0, False
            if skipped:
                async with self._store.transaction() as conn:
                    if not await webhook_store.passed(
                        conn, claim, after, self._config.webhook_lease, None
                    ):
                        return

    async def _attempt(
        self, claim: Claim, found: Target, signers: list[Signer], item: Item, attempt: int
    ) -> bool:
        """One attempt at one event; True if it was delivered (and recorded)."""
        assert self._sender is not None
        outcome: Outcome = await self._sender.post(found.url, item.webhook_id, item.body, signers)
        record = Attempt(
            item.webhook_id,
            item.session_id,
            item.event_type,
            attempt,
            outcome.status,
            outcome.error,
            outcome.latency_ms,
            outcome.excerpt,
        )
        lease = self._config.webhook_lease
        async with self._store.transaction() as conn:
            if outcome.ok:
                kept = await webhook_store.passed(conn, claim, item.done, lease, record)
            else:
                delay = retry_delay(attempt, self._schedule, retry_after=outcome.retry_after)
                kept = await webhook_store.failed(
                    conn,
                    claim,
                    record,
                    delay,
                    gone=outcome.status == 410,
                    disable_after=self._config.webhook_disable_after,
                )
        async with self._progress:
            self.attempts += kept
            self.tried[claim.endpoint_id] += kept
            self.delivered += kept and outcome.ok
            self._progress.notify_all()
        return kept and outcome.ok

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds, looked at after each recorded attempt."""
        async with self._progress:
            await self._progress.wait_for(predicate)


async def run_worker(config: Config, stop: asyncio.Event) -> None:
    """`hub worker`: deliver until `stop` is set."""
    assert config.database_url is not None and config.secret_key is not None
    store = await Store.open(
        config.database_url, size=min(config.db_pool_size, 4), wait_limit=config.db_timeout
    )
    metrics = Metrics()
    worker = WebhookWorker(store, Keyring.parse(config.secret_key), config, metrics=metrics)
    runner: web.AppRunner | None = None
    try:
        if config.webhook_metrics_port:
            runner = await _serve_metrics(metrics, config.host, config.webhook_metrics_port)
        worker.start()
        log.info("webhook worker %s started", worker.worker_id)
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await worker.close()
        if runner is not None:
            await runner.cleanup()
        await store.close()


async def _serve_metrics(metrics: Metrics, host: str, port: int) -> web.AppRunner:
    """`/metrics` of a `hub worker` process (`HUB_WEBHOOK_METRICS_PORT`)."""

    async def exposition(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/metrics", exposition)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("worker metrics at http://%s:%d/metrics", host, port)
    return runner
