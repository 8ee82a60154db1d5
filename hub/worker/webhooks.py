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

How streams are shared. A worker opens streams for sessions that came into an
endpoint's scope (`discover_streams`), then leases due streams with FOR UPDATE SKIP
LOCKED (`claim_streams`): several workers share the load, never the same stream at
once. It delivers a stream's events one at a time, in id order, and moves the stream's
cursor past each only after a 2xx (in one transaction with the attempt's log row and
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
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp
import msgspec
from nanoid import generate as nanoid
from standardwebhooks import Webhook as Signer

from hub.api.webhooks import WebhookEvent
from hub.config import Config
from hub.domain import Message
from hub.domain.webhooks import (
    check_url,
    filter_matches,
    message_webhook_id,
    parse_retry_after,
    retry_delay,
    scope_allows,
)
from hub.errors import HubError
from hub.protocol import MessageEvent
from hub.store import Connection, Store
from hub.store import sessions as session_store
from hub.store import webhooks as webhook_store
from hub.store.messages import list_messages
from hub.store.webhooks import Attempt, Claim, Target
from hub.tasks import cancel_and_wait
from hub.vault import Keyring, Unreadable
from hub.worker.egress import http_client, refusal_of

__all__ = ["WebhookWorker"]

log = logging.getLogger("hub.worker.webhooks")

PAGE = 100
"""Messages read per round trip while delivering one stream."""
EXCERPT_BYTES = 1024
_encoder = msgspec.json.Encoder()


class _Outcome(msgspec.Struct):
    status: int | None
    error: str | None
    excerpt: str
    retry_after: float | None
    latency_ms: int


class WebhookWorker:
    """Delivers webhooks from one process; as many may run as wanted, anywhere."""

    def __init__(
        self, store: Store, keyring: Keyring, config: Config, *, worker_id: str | None = None
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._config = config
        self._schedule = config.retry_schedule()
        self.worker_id = worker_id or f"{socket.gethostname()[:40]}:{os.getpid()}:{nanoid(size=6)}"
        self._task: asyncio.Task[None] | None = None
        self._busy: dict[tuple[str, str], asyncio.Task[None]] = {}  # stream -> delivery
        self._http: aiohttp.ClientSession | None = None
        self._discovered_at = 0.0
        self.delivered = 0
        """Events this worker delivered (answered 2xx, recorded)."""
        self.attempts = 0
        """Attempts this worker made and recorded (committed)."""
        self._progress = asyncio.Condition()

    def start(self) -> None:
        self._http = http_client(
            allow_private=self._config.webhook_allow_private,
            connections=2 * self._config.webhook_concurrency,
        )
        self._task = asyncio.create_task(self._run(), name="hub-webhook-worker")

    async def close(self) -> None:
        """Stop: deliveries under way are cancelled (their streams stay leased until the
        lease runs out, as if the process had died: nothing is lost)."""
        await cancel_and_wait([self._task, *self._busy.values()])
        self._busy.clear()
        if self._http is not None:
            await self._http.close()

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
                    endpoint_id
                    for endpoint_id, types in await webhook_store.wanting_endpoints(conn)
                    if filter_matches(types, "message.created")
                ]
                await webhook_store.discover_streams(conn, wanted)
        free = self._config.webhook_concurrency - len(self._busy)
        if free <= 0:
            return 0
        async with self._store.transaction() as conn:
            claims = await webhook_store.claim_streams(
                conn, self.worker_id, free, self._config.webhook_lease
            )
        for claim in claims:
            key = (claim.endpoint_id, claim.session_id)
            task = asyncio.create_task(self._deliver_stream(claim), name="hub-webhook-stream")
            self._busy[key] = task
            task.add_done_callback(self._forget)
        return len(claims)

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
        """Deliver the stream's messages in order until none is left, one fails, or
        the lease is lost. The endpoint, the grounds to hear the session and the
        secrets are read again for each page, so a change applies within one page."""
        after, attempts = claim.after_message_id, claim.attempts
        while True:
            async with self._store.connection() as conn:
                found = await webhook_store.target(conn, claim.endpoint_id)
                if found is None or not found.enabled:
                    await webhook_store.release(conn, claim, self.worker_id)
                    return
                if not await self._may_hear(conn, found, claim.session_id):
                    await webhook_store.drop_stream(conn, claim, self.worker_id)
                    return
                page = await list_messages(conn, claim.session_id, after=after, limit=PAGE)
                if not page:
                    await webhook_store.release(conn, claim, self.worker_id)
                    return
                signers = await self._signers(conn, found.id)
            if not filter_matches(found.event_types, "message.created"):
                async with self._store.transaction() as conn:
                    if not await webhook_store.passed(
                        conn, claim, self.worker_id, page[-1].id, self._config.webhook_lease, None
                    ):
                        return
                after = page[-1].id
                continue
            for message in page:
                attempts += 1
                if not await self._attempt(claim, found, signers, message, attempts):
                    return
                after, attempts = message.id, 0

    async def _may_hear(self, conn: Connection, found: Target, session_id: str) -> bool:
        if found.scope.user_id is None:
            try:
                await session_store.get_session(conn, session_id)
            except HubError:
                return False
            return found.scope.session_id == session_id
        grounds = await session_store.watch_grounds(conn, session_id, found.scope.user_id)
        if grounds is None:
            return False
        return scope_allows(
            found.scope,
            session_id,
            grounds.session.workspace_id,
            grounds.own_agent,
            grounds.space_role,
        )

    async def _signers(self, conn: Connection, endpoint_id: str) -> list[Signer]:
        signers = []
        for secret_id, sealed in await webhook_store.live_secrets(conn, endpoint_id):
            try:
                secret = self._keyring.decrypt(endpoint_id, secret_id, sealed).decode()
            except Unreadable as exc:
                log.warning("a secret of webhook %s does not open: %s", endpoint_id, exc)
                continue
            signers.append(Signer(secret))
        return signers

    async def _attempt(
        self,
        claim: Claim,
        found: Target,
        signers: list[Signer],
        message: Message,
        attempt: int,
    ) -> bool:
        """One attempt at one message; True if it was delivered (and recorded)."""
        webhook_id = message_webhook_id(message.session_id, message.id)
        body = _encoder.encode(
            WebhookEvent(
                type="message.created",
                timestamp=message.created_at,
                data=MessageEvent(message=message),
            )
        )
        if signers:
            outcome = await self._post(found.url, webhook_id, body, signers)
        else:
            outcome = _Outcome(
                None, "no signing secret opens (HUB_SECRET_KEY changed?)", "", None, 0
            )
        record = Attempt(
            webhook_id,
            message.session_id,
            "message.created",
            attempt,
            outcome.status,
            outcome.error,
            outcome.latency_ms,
            outcome.excerpt,
        )
        lease = self._config.webhook_lease
        ok = outcome.status is not None and 200 <= outcome.status < 300
        async with self._store.transaction() as conn:
            if ok:
                kept = await webhook_store.passed(
                    conn, claim, self.worker_id, message.id, lease, record
                )
            else:
                delay = retry_delay(attempt, self._schedule, retry_after=outcome.retry_after)
                kept = await webhook_store.failed(
                    conn,
                    claim,
                    self.worker_id,
                    record,
                    delay,
                    gone=outcome.status == 410,
                    disable_after=self._config.webhook_disable_after,
                )
        async with self._progress:
            self.attempts += kept
            self.delivered += kept and ok
            self._progress.notify_all()
        return kept and ok

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds, looked at after each recorded attempt."""
        async with self._progress:
            await self._progress.wait_for(predicate)

    async def _post(
        self, url: str, webhook_id: str, body: bytes, signers: list[Signer]
    ) -> _Outcome:
        assert self._http is not None
        now = datetime.now(UTC)
        text = body.decode()
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": " ".join(s.sign(webhook_id, now, text) for s in signers),
        }
        started = time.perf_counter()

        def took() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            check_url(url, allow_private=self._config.webhook_allow_private)
            timeout = aiohttp.ClientTimeout(total=self._config.webhook_timeout)
            async with self._http.post(
                url, data=body, headers=headers, allow_redirects=False, timeout=timeout
            ) as response:
                raw = await response.content.read(EXCERPT_BYTES)
                excerpt = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
                error = None
                if 300 <= response.status < 400:
                    error = "redirects are not followed"
                retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
                return _Outcome(
                    response.status, error, excerpt[:EXCERPT_BYTES], retry_after, took()
                )
        except HubError as exc:
            return _Outcome(None, exc.message[:500], "", None, took())
        except TimeoutError:
            error = f"no answer within {self._config.webhook_timeout:g} s"
            return _Outcome(None, error, "", None, took())
        except (aiohttp.ClientError, OSError) as exc:
            refused = refusal_of(exc)
            error = f"refused: {refused}" if refused else f"{type(exc).__name__}: {exc}"
            return _Outcome(None, error[:500], "", None, took())


async def run_worker(config: Config, stop: asyncio.Event) -> None:
    """`hub worker`: deliver until `stop` is set."""
    assert config.database_url is not None and config.secret_key is not None
    store = await Store.open(
        config.database_url, size=min(config.db_pool_size, 4), wait_limit=config.db_timeout
    )
    worker = WebhookWorker(store, Keyring.parse(config.secret_key), config)
    try:
        worker.start()
        log.info("webhook worker %s started", worker.worker_id)
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await worker.close()
        await store.close()
