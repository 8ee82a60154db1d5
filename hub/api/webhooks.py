"""REST bodies of webhook endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from hub.domain.spaces import SPACE_REF_PATTERN
from hub.domain.webhooks import (
    Delivery,
    EventFilter,
    RatingEvent,
    TestEvent,
    Webhook,
    WebhookUrl,
)
from hub.protocol import Event

__all__ = [
    "CreatedWebhook",
    "DeliveryPage",
    "DeliveryQuery",
    "NewWebhook",
    "Redeliver",
    "Redelivered",
    "RotateSecret",
    "RotatedSecret",
    "WebhookEvent",
    "WebhookList",
    "WebhookUpdate",
]

WebhookDescription = Annotated[str, msgspec.Meta(max_length=500)]
MAX_OVERLAP_SECONDS = 7 * 24 * 3600


class NewWebhook(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An endpoint to register. With a user key, optionally scoped to one session
    (`session_id`) or one space (`space`, slug or id) you may read; unscoped, it hears
    every session you may read. With agent A's token (under the session's path), it
    hears that session."""

    url: WebhookUrl
    """`https://` (plain `http` and internal addresses only where the operator allows)."""
    event_types: EventFilter
    description: WebhookDescription = ""
    session_id: Annotated[str, msgspec.Meta(max_length=80)] | None = None
    space: Annotated[str, msgspec.Meta(max_length=80, pattern=SPACE_REF_PATTERN)] | None = None
    enabled: bool = True


class CreatedWebhook(msgspec.Struct, kw_only=True):
    """The endpoint and its signing secret, shown this once."""

    webhook: Webhook
    secret: str
    """`whsec_` + base64 of 32 random bytes: verify signatures with it."""


class WebhookUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What to change; unset fields stay. Enabling an endpoint clears why it was
    disabled and tries its waiting deliveries at once."""

    url: WebhookUrl | None = None
    event_types: EventFilter | None = None
    description: WebhookDescription | None = None
    enabled: bool | None = None


class WebhookList(msgspec.Struct, kw_only=True):
    webhooks: list[Webhook]


class RotateSecret(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    overlap_seconds: Annotated[int, msgspec.Meta(ge=0, le=MAX_OVERLAP_SECONDS)] = 86_400
    """How long the old secret keeps signing beside the new one (0-604,800 s; default a
    day): deliveries carry both signatures until then."""


class RotatedSecret(msgspec.Struct, kw_only=True):
    secret: str
    """The new secret, shown this once."""
    previous_expires_at: datetime
    """Until when the previous secret's signature is sent too."""


class DeliveryQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    before: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None
    """Attempts older than this attempt id (the next page: the last id seen)."""


class DeliveryPage(msgspec.Struct, kw_only=True):
    """Attempts, newest first."""

    deliveries: list[Delivery]


class Redeliver(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What to deliver again: one event the endpoint may hear (`webhook_id`: of its
    delivery log, or one its filter and scope take), sent now and once; or everything
    since a time (`since`), queued again in order."""

    webhook_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    since: datetime | None = None
    """An ISO 8601 time with its zone; not before the endpoint's registration."""


class Redelivered(msgspec.Struct, kw_only=True):
    delivery: Delivery | None
    """The attempt made (for `webhook_id`)."""
    streams: int
    """For `since`: the streams (sessions) sent back to that time."""


class WebhookEvent(msgspec.Struct, kw_only=True):
    """The body of a delivery (Standard Webhooks): the event's type, when it happened,
    and the same payload the websocket sends for it: a `message` event for
    `message.created`, `note` for `note.created`/`note.updated`, `file` for
    `file.written`, `session` for `session.status_changed` and `session.deleted` (with
    `deleted` true), `interrupt` for `session.interrupted`, `attachment` for
    `attachment.uploaded`, `artifact` for `artifact.created`/`artifact.updated`,
    `approval` for `approval.decided`, `job` for `job.created`/`job.updated`; `rating`
    for `rating.created` and `test` for `webhook.test`, which have no websocket event."""

    type: str
    timestamp: datetime
    data: Event | RatingEvent | TestEvent
