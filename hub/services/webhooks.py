"""Webhook endpoints: registered by a person (user key) for what they may read, or by a
session's agent A for its own session; each change audited in its transaction.

A person's endpoint may be scoped to one session or one space they may read now (the
grounds of `hub.store.sessions.watch_grounds` and of space membership); the grounds are
checked again at every delivery (`hub.worker.webhooks`). An endpoint that is not the
caller's, or a scope they may not read, answers `not_found` (`session_not_found`), as
one that does not exist. The signing secret is made here, returned once, and stored
sealed (`hub.vault.Keyring`, bound to the endpoint and the secret's id); it is never
logged, audited or answered again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec
from nanoid import generate as nanoid

from hub import api
from hub.config import Config
from hub.domain import Principal, UserPrincipal, check_session_id, require
from hub.domain.webhooks import (
    MAX_ENDPOINTS,
    Delivery,
    TestEvent,
    Webhook,
    check_filter,
    check_url,
    filter_matches,
    new_webhook_id,
    parse_webhook_id,
)
from hub.errors import HubError
from hub.metrics import Metrics
from hub.security import new_webhook_secret
from hub.services.spaces import readable_space
from hub.store import Connection, Store, changes
from hub.store import sessions as session_store
from hub.store import webhooks as webhook_store
from hub.store.messages import list_messages
from hub.store.webhooks import Attempt, Owner, Target
from hub.vault import Keyring
from hub.worker.egress import Outcome, Sender
from hub.worker.webhooks import Item, event_item, may_hear, message_item, signers_of

__all__ = ["WebhookOwner", "Webhooks"]

_encoder = msgspec.json.Encoder()

WebhookOwner = UserPrincipal | Principal
"""Who manages endpoints: a person (user key), or a session's agent A (its token)."""


def _owner(who: WebhookOwner) -> Owner:
    if isinstance(who, UserPrincipal):
        return Owner(who.user_id, None)
    require(who, "manage_webhooks")
    return Owner(None, who.session_id)


def _missing(endpoint_id: str) -> HubError:
    return HubError("not_found", f"no webhook {endpoint_id[:64]!r} among yours")


async def _audit(conn: Connection, who: WebhookOwner, action: Any, detail: dict[str, Any]) -> None:
    if isinstance(who, UserPrincipal):
        await changes.audit(conn, who, who.user_id, action, detail)
    else:
        await changes.record_as(conn, who, action, detail)


def _host(url: str) -> str:
    """What the audit log says of a URL: its host (a query may carry a token)."""
    return urlsplit(url).hostname or ""


class Webhooks:
    def __init__(
        self, store: Store, keyring: Keyring, config: Config, *, metrics: Metrics | None = None
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._allowance = config.webhook_allowance()
        self._sender = Sender(
            self._allowance,
            timeout=config.webhook_timeout,
            connections=4,
            metrics=metrics,
        )

    async def close(self) -> None:
        await self._sender.close()

    async def _new_secret(self, conn: Connection, endpoint_id: str) -> str:
        secret = new_webhook_secret()
        secret_id = "whs_" + str(nanoid(size=21))
        sealed = self._keyring.encrypt(endpoint_id, secret_id, secret.encode())
        await webhook_store.add_secret(conn, endpoint_id, secret_id, sealed)
        return secret

    async def create(self, who: WebhookOwner, req: api.NewWebhook) -> api.CreatedWebhook:
        """Register an endpoint; its secret is in the answer and nowhere else."""
        owner = _owner(who)
        url = check_url(req.url, self._allowance)
        event_types = check_filter(req.event_types)
        endpoint_id = new_webhook_id()
        async with self._store.transaction() as conn:
            space_id = None
            if owner.user_id is None:
                if req.space is not None or req.session_id not in (None, owner.session_id):
                    raise HubError("bad_request", "a session's own webhook hears that session only")
            elif req.session_id is not None and req.space is not None:
                raise HubError("bad_request", "scope a webhook to a session or a space, not both")
            elif req.session_id is not None:
                check_session_id(req.session_id)
                if await session_store.watch_grounds(conn, req.session_id, owner.user_id) is None:
                    raise HubError("session_not_found", "no such session among yours")
            elif req.space is not None:
                space_id = await readable_space(conn, req.space, owner.user_id)
            if await webhook_store.count_endpoints(conn, owner) >= MAX_ENDPOINTS:
                raise HubError("conflict", f"at most {MAX_ENDPOINTS} webhooks: delete one first")
            await webhook_store.create_endpoint(
                conn,
                endpoint_id=endpoint_id,
                owner=owner,
                scope_session=req.session_id,
                space_id=space_id,
                url=url,
                description=req.description,
                event_types=event_types,
                enabled=req.enabled,
            )
            secret = await self._new_secret(conn, endpoint_id)
            await _audit(
                conn, who, "webhook.created", {"webhook_id": endpoint_id, "host": _host(url)}
            )
            found = await webhook_store.find_endpoint(conn, endpoint_id, owner)
        assert found is not None
        return api.CreatedWebhook(webhook=found, secret=secret)

    async def listing(self, who: WebhookOwner) -> list[Webhook]:
        owner = _owner(who)
        async with self._store.connection() as conn:
            return await webhook_store.list_endpoints(conn, owner)

    async def get(self, who: WebhookOwner, endpoint_id: str) -> Webhook:
        owner = _owner(who)
        async with self._store.connection() as conn:
            found = await webhook_store.find_endpoint(conn, endpoint_id, owner)
        if found is None:
            raise _missing(endpoint_id)
        return found

    async def update(self, who: WebhookOwner, endpoint_id: str, req: api.WebhookUpdate) -> Webhook:
        """Change the URL, filter, description, or enable/disable."""
        owner = _owner(who)
        changed: dict[str, Any] = {}
        if req.url is not None:
            changed["url"] = check_url(req.url, self._allowance)
        if req.event_types is not None:
            changed["event_types"] = check_filter(req.event_types)
        if req.description is not None:
            changed["description"] = req.description
        async with self._store.transaction() as conn:
            found = await webhook_store.find_endpoint(conn, endpoint_id, owner, lock=True)
            if found is None:
                raise _missing(endpoint_id)
            if req.enabled is not None and req.enabled != found.enabled:
                changed["enabled"] = req.enabled
            if changed:
                await webhook_store.update_endpoint(conn, endpoint_id, dict(changed))
                detail = {k: v for k, v in changed.items() if k != "url"}
                if "url" in changed:
                    detail["host"] = _host(changed["url"])
                await _audit(conn, who, "webhook.updated", {"webhook_id": endpoint_id, **detail})
            updated = await webhook_store.find_endpoint(conn, endpoint_id, owner)
        assert updated is not None
        return updated

    async def delete(self, who: WebhookOwner, endpoint_id: str) -> None:
        """Delete for good: nothing more is delivered; its delivery log stays readable
        to no one (the endpoint is gone)."""
        owner = _owner(who)
        async with self._store.transaction() as conn:
            if await webhook_store.find_endpoint(conn, endpoint_id, owner, lock=True) is None:
                raise _missing(endpoint_id)
            await webhook_store.delete_endpoint(conn, endpoint_id)
            await _audit(conn, who, "webhook.deleted", {"webhook_id": endpoint_id})

    async def rotate_secret(
        self, who: WebhookOwner, endpoint_id: str, overlap_seconds: int
    ) -> api.RotatedSecret:
        """A new secret, returned once; the previous one keeps signing (both signatures
        are sent) for `overlap_seconds`, and one rotated away before stops now."""
        owner = _owner(who)
        async with self._store.transaction() as conn:
            if await webhook_store.find_endpoint(conn, endpoint_id, owner, lock=True) is None:
                raise _missing(endpoint_id)
            expires = await webhook_store.retire_secrets(conn, endpoint_id, overlap_seconds)
            secret = await self._new_secret(conn, endpoint_id)
            await _audit(
                conn,
                who,
                "webhook.secret_rotated",
                {"webhook_id": endpoint_id, "overlap_seconds": overlap_seconds},
            )
        return api.RotatedSecret(secret=secret, previous_expires_at=expires)

    async def deliveries(
        self, who: WebhookOwner, endpoint_id: str, q: api.DeliveryQuery
    ) -> list[Delivery]:
        """The endpoint's delivery attempts, newest first."""
        owner = _owner(who)
        async with self._store.connection() as conn:
            if await webhook_store.find_endpoint(conn, endpoint_id, owner) is None:
                raise _missing(endpoint_id)
            return await webhook_store.list_attempts(conn, endpoint_id, q.before, q.limit)

    async def send_test(self, who: WebhookOwner, endpoint_id: str) -> Delivery:
        """Send a `webhook.test` event now (to a disabled endpoint too), signed like any
        delivery; the attempt is logged (kind `test`) and answered. It changes nothing
        of the endpoint's state."""
        owner = _owner(who)
        async with self._store.connection() as conn:
            found = await webhook_store.find_endpoint(conn, endpoint_id, owner)
            if found is None:
                raise _missing(endpoint_id)
            signers = await signers_of(conn, self._keyring, endpoint_id)
        webhook_id = "test_" + str(nanoid(size=21))
        data = TestEvent(webhook=endpoint_id, message="a test event from Hub")
        body = _encoder.encode(
            api.WebhookEvent(type="webhook.test", timestamp=datetime.now(UTC), data=data)
        )
        outcome = await self._sender.post(found.url, webhook_id, body, signers)
        attempt = _record(webhook_id, None, "webhook.test", 1, outcome)
        async with self._store.transaction() as conn:
            return await webhook_store.log_attempt(conn, endpoint_id, attempt, "test")

    async def redeliver(
        self, who: WebhookOwner, endpoint_id: str, req: api.Redeliver
    ) -> api.Redelivered:
        """Deliver again one event (now, once, answered: see `_event_for` for which),
        or everything since a time (the streams go back; the worker delivers in order)."""
        owner = _owner(who)
        if (req.webhook_id is None) == (req.since is None):
            raise HubError("bad_request", "give webhook_id or since, one of the two")
        if req.since is not None:
            if req.since.tzinfo is None:
                raise HubError("bad_request", "since needs a time zone (…Z or +00:00)")
            async with self._store.transaction() as conn:
                if await webhook_store.find_endpoint(conn, endpoint_id, owner, lock=True) is None:
                    raise _missing(endpoint_id)
                streams = await webhook_store.rewind_streams(conn, endpoint_id, req.since)
                await _audit(
                    conn,
                    who,
                    "webhook.redelivered",
                    {"webhook_id": endpoint_id, "since": req.since.isoformat()},
                )
            return api.Redelivered(delivery=None, streams=streams)
        assert req.webhook_id is not None
        async with self._store.connection() as conn:
            found = await webhook_store.find_endpoint(conn, endpoint_id, owner)
            target = await webhook_store.target(conn, endpoint_id)
            if found is None or target is None:
                raise _missing(endpoint_id)
            event, attempts = await _event_for(conn, target, req.webhook_id)
            signers = await signers_of(conn, self._keyring, endpoint_id)
        outcome = await self._sender.post(found.url, event.webhook_id, event.body, signers)
        attempt = _record(event.webhook_id, event.session_id, event.event_type, attempts, outcome)
        async with self._store.transaction() as conn:
            logged = await webhook_store.log_attempt(conn, endpoint_id, attempt, "redelivery")
            await _audit(
                conn,
                who,
                "webhook.redelivered",
                {"webhook_id": endpoint_id, "event": event.webhook_id},
            )
        return api.Redelivered(delivery=logged, streams=0)


async def _event_for(conn: Connection, target: Target, webhook_id: str) -> tuple[Item, int]:
    """The event behind a `webhook-id`, as the worker sends it, and the number its
    attempt has (one more than the endpoint's log holds of it). Any event kept
    (a message while its session has it, an outbox event for the retention) that the
    endpoint may hear: in its delivery log, or one its filter takes in a session its
    scope takes now (also from before it was registered). `not_found` for an id this hub
    never gave, an event not kept, or one of a session the endpoint may not hear (the
    same answer: no session's existence shows); `conflict` for one its filter does not
    take; `forbidden` for one it had but may no longer hear."""
    parsed = parse_webhook_id(webhook_id)
    if parsed is None:
        raise HubError("not_found", _NO_EVENT)
    kind, session_id, number = parsed
    logged = await webhook_store.attempted(conn, target.id, webhook_id)
    hears = await may_hear(conn, target, session_id)
    if logged is None and not hears:  # before looking: whether it exists does not show
        raise HubError("not_found", _NO_EVENT)
    item: Item | None = None
    if kind == "msg":
        page = await list_messages(conn, session_id, after=number - 1, limit=1)
        if page and page[0].id == number:
            item = message_item(page[0], 0)
    else:
        event = await webhook_store.find_event(conn, session_id, number)
        if event is not None:
            item = event_item(session_id, event, 0)
    if item is None:
        raise HubError("not_found", _NO_EVENT if logged is None else "that event is no longer kept")
    if not hears:
        raise HubError("forbidden", "this endpoint may no longer hear that session")
    if logged is None and not filter_matches(target.event_types, item.event_type):
        raise HubError(
            "conflict", f"this webhook's filter does not take {item.event_type}: change it first"
        )
    return item, (0 if logged is None else logged[2]) + 1


_NO_EVENT = "no such event (still kept) among those this webhook may hear"


def _record(
    webhook_id: str, session_id: str | None, event_type: str, attempt: int, outcome: Outcome
) -> Attempt:
    return Attempt(
        webhook_id,
        session_id,
        event_type,
        attempt,
        outcome.status,
        outcome.error,
        outcome.latency_ms,
        outcome.excerpt,
    )
