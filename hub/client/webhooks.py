"""The REST API of webhook endpoints: a person's (user key) or a session's own (agent
A's token); each endpoint then with the credential that registered it: change, delete,
rotate its secret, read its delivery log, send a test event, deliver again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from hub import api
from hub.client.transport import RestClient
from hub.domain.webhooks import Delivery, Webhook

__all__ = ["WebhooksAPI"]


class WebhooksAPI(RestClient):
    async def create_webhook(
        self,
        token: str,
        url: str,
        event_types: list[str],
        *,
        description: str = "",
        session_id: str | None = None,
        space: str | None = None,
        enabled: bool = True,
        own_session: bool = False,
    ) -> api.CreatedWebhook:
        """Register an endpoint; its signing secret is in the answer, this once. With a
        user key, scoped to `session_id` or `space` (or every session you may read); with
        agent A's token and `own_session=True`, the session `session_id`'s own."""
        body = api.NewWebhook(
            url=url,
            event_types=event_types,
            description=description,
            session_id=None if own_session else session_id,
            space=space,
            enabled=enabled,
        )
        path = f"/api/sessions/{session_id}/webhooks" if own_session else "/api/webhooks"
        return await self._typed(api.CreatedWebhook, "POST", path, token=token, body=body)

    async def webhooks(self, token: str, *, session_id: str | None = None) -> list[Webhook]:
        """Your endpoints (user key), or with `session_id` and agent A's token, the
        session's own."""
        path = f"/api/sessions/{session_id}/webhooks" if session_id else "/api/webhooks"
        return (await self._typed(api.WebhookList, "GET", path, token=token)).webhooks

    async def webhook(self, webhook_id: str, token: str) -> Webhook:
        return await self._typed(Webhook, "GET", f"/api/webhooks/{webhook_id}", token=token)

    async def update_webhook(self, webhook_id: str, token: str, **changes: Any) -> Webhook:
        """Change `url`, `event_types`, `description` or `enabled`."""
        body = api.WebhookUpdate(**changes)
        path = f"/api/webhooks/{webhook_id}"
        return await self._typed(Webhook, "PATCH", path, token=token, body=body)

    async def delete_webhook(self, webhook_id: str, token: str) -> None:
        await self.request("DELETE", f"/api/webhooks/{webhook_id}", token=token)

    async def rotate_webhook_secret(
        self, webhook_id: str, token: str, *, overlap_seconds: int = 86_400
    ) -> api.RotatedSecret:
        """A new secret, shown once; the previous one signs beside it for the overlap."""
        body = api.RotateSecret(overlap_seconds=overlap_seconds)
        path = f"/api/webhooks/{webhook_id}/secret"
        return await self._typed(api.RotatedSecret, "POST", path, token=token, body=body)

    async def webhook_deliveries(
        self, webhook_id: str, token: str, *, limit: int = 50, before: int | None = None
    ) -> list[Delivery]:
        """The endpoint's delivery attempts, newest first; for the next page pass the
        last one's `id` as `before`."""
        page = await self._typed(
            api.DeliveryPage,
            "GET",
            f"/api/webhooks/{webhook_id}/deliveries",
            token=token,
            params={"limit": limit, "before": before},
        )
        return page.deliveries

    async def watch_deliveries(
        self,
        webhook_id: str,
        token: str,
        *,
        interval: float = 2.0,
        limit: int = 50,
        recent: bool = False,
    ) -> AsyncIterator[Delivery]:
        """The endpoint's delivery attempts as they are made, each once, oldest first,
        for as long as you iterate: the log's `limit` newest are read every `interval`
        seconds (with `recent`, those already in the log come first). Workers commit
        attempts in any order, so what was seen is remembered by id, not as a cursor;
        more than `limit` attempts within one interval would pass some by."""
        seen: set[int] | None = None  # None: the first read
        while True:
            page = await self.webhook_deliveries(webhook_id, token, limit=limit)
            if seen is not None or recent:
                for delivery in reversed(page):
                    if seen is None or delivery.id not in seen:
                        yield delivery
            seen = {d.id for d in page}
            await asyncio.sleep(interval)

    async def test_webhook(self, webhook_id: str, token: str) -> Delivery:
        """Send a `webhook.test` event now; the attempt (status, latency, answer)."""
        path = f"/api/webhooks/{webhook_id}/test"
        return await self._typed(Delivery, "POST", path, token=token)

    async def redeliver(
        self,
        webhook_id: str,
        token: str,
        *,
        event: str | None = None,
        since: datetime | None = None,
    ) -> api.Redelivered:
        """Deliver again one event the endpoint may hear (`event`: its `webhook-id`, in
        the delivery log or not; sent now, the attempt answered) or everything since a
        time (`since`, with its zone)."""
        body = api.Redeliver(webhook_id=event, since=since)
        path = f"/api/webhooks/{webhook_id}/redeliver"
        return await self._typed(api.Redelivered, "POST", path, token=token, body=body)
