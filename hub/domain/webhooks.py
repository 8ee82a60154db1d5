"""Webhooks: endpoints that hear a session's events over HTTP, signed per the Standard
Webhooks specification. The rules here are pure: which event types a filter takes, who
an endpoint may hear, the retry schedule, the id a delivery keeps across retries, and
which network addresses an endpoint may never reach."""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Literal, NamedTuple
from urllib.parse import urlsplit

import msgspec
from nanoid import generate as nanoid

from hub.domain.ratings import Rating
from hub.domain.spaces import SpaceRole
from hub.errors import HubError

__all__ = [
    "EVENT_TYPES",
    "MAX_ENDPOINTS",
    "Allowance",
    "Delivery",
    "EventFilter",
    "EventType",
    "OutboxType",
    "RatingEvent",
    "TestEvent",
    "Webhook",
    "WebhookScope",
    "WebhookUrl",
    "address_refusal",
    "check_filter",
    "check_url",
    "event_webhook_id",
    "filter_matches",
    "filter_patterns",
    "message_webhook_id",
    "new_webhook_id",
    "parse_allowance",
    "parse_retry_after",
    "parse_webhook_id",
    "retry_delay",
    "scope_allows",
]

EventType = Literal[
    "message.created",
    "note.created",
    "note.updated",
    "file.written",
    "presence.changed",
    "session.status_changed",
    "session.deleted",
    "session.interrupted",
    "rating.created",
    "attachment.uploaded",
    "artifact.created",
    "artifact.updated",
    "approval.decided",
    "job.created",
    "job.updated",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]
"""Every event type an endpoint may ask for. `presence.changed` is accepted in a filter
but not delivered (presence is not transactional, and heartbeats would flood). Neither
is a stream's text as it grows (deltas are not transactional either): a stream that
ends is committed as a message, and arrives as `message.created`. A job arrives when it
is created (`job.created`) and when its status or charge changes (`job.updated`:
claimed, back in the queue, ended, refunded), not at each progress report or log line
(they are live events only)."""

OutboxType = Literal[
    "note.created",
    "note.updated",
    "file.written",
    "session.status_changed",
    "session.deleted",
    "session.interrupted",
    "rating.created",
    "attachment.uploaded",
    "artifact.created",
    "artifact.updated",
    "approval.decided",
    "job.created",
    "job.updated",
]
"""The types written to the outbox by the change itself (`message.created` is read from
the messages table)."""

MAX_ENDPOINTS = 50
"""Endpoints one owner (a person, or a session) may have at once."""

_FILTER = r"^(\*|[a-z_]+\.\*|[a-z_]+\.[a-z_]+)$"
EventFilter = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=64, pattern=_FILTER)]],
    msgspec.Meta(
        min_length=1,
        max_length=32,
        description="event types (`message.created`), prefixes (`message.*`) or `*`",
    ),
]
WebhookUrl = Annotated[str, msgspec.Meta(min_length=8, max_length=2048)]


def check_filter(patterns: Sequence[str]) -> list[str]:
    """The filter without repeats, in the order given; `bad_request` for a pattern that
    names no event type there is."""
    for pattern in patterns:
        if not any(filter_matches([pattern], t) for t in EVENT_TYPES):
            raise HubError("bad_request", f"event filter {pattern[:64]!r} matches no event type")
    return list(dict.fromkeys(patterns))


def filter_matches(patterns: Sequence[str], event_type: str) -> bool:
    """Whether a filter takes `event_type`: by name, by prefix (`message.*`) or `*`."""
    area = event_type.partition(".")[0]
    return any(p == "*" or p == event_type or p == f"{area}.*" for p in patterns)


def filter_patterns(event_type: str) -> list[str]:
    """Every filter entry that takes `event_type` (`filter_matches` as a set, for a
    database's array overlap)."""
    return ["*", f"{event_type.partition('.')[0]}.*", event_type]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^(\*\.)?({_LABEL}\.)*{_LABEL}$")


@dataclass(frozen=True, slots=True)
class Allowance:
    """What the operator lets webhooks reach beyond public addresses: everything
    (`HUB_WEBHOOK_ALLOW_PRIVATE`), or an allow-list (`HUB_WEBHOOK_ALLOW`) of networks
    (any address a URL's host is or resolves to may be in one) and host names (exact,
    or `*.example.com` for its subdomains: whatever they resolve to). An allowed host
    name, or an IP literal in an allowed network, may also be reached over `http://`."""

    everything: bool = False
    networks: tuple[Network, ...] = ()
    hosts: tuple[str, ...] = ()

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for allowed in self.hosts:
            if allowed.startswith("*."):
                if host.endswith(allowed[1:]):
                    return True
            elif host == allowed:
                return True
        return False

    def listed(self, ip: Address) -> bool:
        """Whether `ip` (or the IPv4 address it maps) is in an allowed network."""
        inner = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        return any(
            a in n
            for n in self.networks
            for a in (ip, inner)
            if a is not None and a.version == n.version
        )

    def refusal(self, ip: Address) -> str | None:
        """Why a webhook may not connect to `ip` (None: it may)."""
        if self.everything or self.listed(ip):
            return None
        return address_refusal(ip)


def parse_allowance(text: str, *, everything: bool = False) -> Allowance:
    """`HUB_WEBHOOK_ALLOW`: networks (`10.1.0.0/16`, an address) and host names
    (`hooks.internal`, `*.corp.example`), separated by commas or spaces."""
    networks: list[Network] = []
    hosts: list[str] = []
    for entry in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        name = entry.lower().rstrip(".")
        if len(name) > 253 or not _HOST.match(name) or name in ("*", ""):
            raise ValueError(f"not a network or a host name: {entry[:80]!r}")
        hosts.append(name)
    return Allowance(everything, tuple(networks), tuple(hosts))


def check_url(url: str, allowance: Allowance) -> str:
    """The endpoint URL, if it may be registered: `https` (or `http` where the
    allowance lets it), a host, no credentials, no fragment, printable ASCII.
    `bad_request` otherwise. (The host's addresses are checked at each delivery.)"""
    if not url.isascii() or not url.isprintable() or any(c.isspace() for c in url):
        raise HubError("bad_request", "a webhook URL is printable ASCII without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise HubError("bad_request", "the webhook URL is not a valid URL") from None
    if not parts.hostname:
        raise HubError("bad_request", "a webhook URL names a host")
    literal = _literal(parts.hostname)
    plain = (
        allowance.everything
        or allowance.host_allowed(parts.hostname)
        or (literal is not None and allowance.listed(literal))
    )
    if parts.scheme not in (("https", "http") if plain else ("https",)):
        raise HubError("bad_request", "a webhook URL must be https://")
    if parts.username is not None or parts.password is not None:
        raise HubError("bad_request", "a webhook URL carries no credentials")
    if parts.fragment or url.endswith("#"):
        raise HubError("bad_request", "a webhook URL has no fragment")
    if port == 0:
        raise HubError("bad_request", "a webhook URL's port is 1-65535")
    if literal is not None and (why := allowance.refusal(literal)) is not None:
        raise HubError("bad_request", f"a webhook may not reach {why}")
    return url


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return None


def address_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a webhook may not connect to `ip` (None: a public address it may reach):
    loopback, private, link-local, multicast, reserved, unspecified, shared or otherwise
    not global, also when wrapped in IPv6 (IPv4-mapped, 6to4, Teredo)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            why = address_refusal(inner)
            return None if why is None else f"{why} (inside {ip})"
    for name in ("loopback", "link_local", "multicast", "private", "reserved", "unspecified"):
        if getattr(ip, f"is_{name}"):
            return f"a {name.replace('_', '-')} address ({ip})"
    if getattr(ip, "is_site_local", False) or not ip.is_global:
        return f"an internal address ({ip})"
    return None


def new_webhook_id() -> str:
    return "whk_" + str(nanoid(size=21))


def message_webhook_id(session_id: str, message_id: int) -> str:
    """The `webhook-id` of a message's delivery: the same on every retry and from every
    worker, and it names the session and the message (a receiver that missed some can
    catch up with `since`)."""
    return f"msg_{session_id}_{message_id}"


def event_webhook_id(session_id: str, event_id: int) -> str:
    """The `webhook-id` of an outbox event (a change other than a message): the session
    and the event's id, gap-free per session."""
    return f"evt_{session_id}_{event_id}"


def parse_webhook_id(webhook_id: str) -> tuple[Literal["msg", "evt"], str, int] | None:
    """(`msg` or `evt`, the session id, the message's or event's id) of a `webhook-id`
    this hub gave, None for anything else."""
    kind, _, rest = webhook_id.partition("_")
    session_id, _, number = rest.rpartition("_")
    if kind not in ("msg", "evt") or not session_id.startswith("ses_") or not number.isdigit():
        return None
    if len(number) > 18 or len(session_id) > 80:
        return None
    return ("msg" if kind == "msg" else "evt"), session_id, int(number)


def retry_delay(
    attempts: int,
    schedule: Sequence[float],
    *,
    retry_after: float | None = None,
    jitter: float = 0.1,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before the next attempt after `attempts` failed ones: the
    schedule's entry for it (its last entry once past the end; the Standard Webhooks
    schedule is 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, ...), stretched by up to
    `jitter` of itself at random so that failed endpoints' retries do not arrive in
    step. A receiver's `Retry-After`, when it asks for longer, is honoured (up to a day)."""
    base = schedule[min(attempts, len(schedule)) - 1] if attempts >= 1 else 0.0
    delay = base * (1 + jitter * (rng or random).random())
    if retry_after is not None:
        delay = max(delay, min(retry_after, 86_400.0))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header as seconds from `now` (delay-seconds or an HTTP date);
    None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(min(int(value[:9]), 86_400))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


class WebhookScope(NamedTuple):
    """What an endpoint hears: its owner (a person, or else the session that owns it)
    and its scope (one session, one space, or, for a person, every session they may
    read)."""

    user_id: str | None
    session_id: str | None
    space_id: str | None


def scope_allows(
    scope: WebhookScope,
    session_id: str,
    session_space: str | None,
    own_agent: bool,
    space_role: SpaceRole | None,
) -> bool:
    """Whether an endpoint may hear a session now. A session's own endpoint hears that
    session; a person's hears the sessions they may watch (one of their agents is in
    it, or they are a member of its space: `hub.store.sessions.watch_grounds`), within
    its scope: that session, or the sessions of that space while they are a member."""
    if scope.session_id is not None and scope.session_id != session_id:
        return False
    if scope.user_id is None:
        return scope.session_id == session_id
    if scope.space_id is not None:
        return session_space == scope.space_id and space_role is not None
    return own_agent or space_role is not None


class RatingEvent(msgspec.Struct, tag="rating", kw_only=True):
    """The `data` of `rating.created` (ratings have no websocket event)."""

    rating: Rating


class TestEvent(msgspec.Struct, tag="test", kw_only=True):
    """The `data` of `webhook.test`, sent on request to check an endpoint."""

    webhook: str
    """The endpoint's id."""
    message: str


class Webhook(msgspec.Struct, kw_only=True):
    """An endpoint as its owner sees it (never its secret)."""

    id: str
    url: str
    description: str
    event_types: list[str]
    session_id: str | None
    """The one session it hears (for a session's own endpoint, that session)."""
    space_id: str | None
    """The one space whose sessions it hears."""
    owner: Literal["user", "session"]
    enabled: bool
    disabled_reason: str | None
    """Why it was disabled (by its owner, a 410 Gone, failing too long)."""
    failing_since: datetime | None
    """When its deliveries began to fail (None: the last one went through)."""
    secret_rotates_at: datetime | None
    """While a rotated-away secret still signs (both signatures are sent), when it
    stops; None otherwise."""
    created_at: datetime
    updated_at: datetime


class Delivery(msgspec.Struct, kw_only=True):
    """One attempt to deliver one event to an endpoint."""

    id: int
    webhook_id: str
    """The `webhook-id` header: the same for every attempt of one event."""
    session_id: str | None
    """The session whose event it was (None for a test event)."""
    event_type: str
    kind: Literal["event", "test", "redelivery"]
    """`event`: the worker's delivery (retried on failure); `test`: a test event sent on
    request; `redelivery`: an event sent again on request (once, not retried)."""
    attempt: int
    status: int | None
    """The HTTP status answered (None: no answer: refused, timed out, unreachable)."""
    error: str | None
    latency_ms: int
    response_excerpt: str
    """The first kilobyte of the answer's body."""
    next_attempt_at: datetime | None
    """When the event is tried again (None: delivered, or the endpoint was disabled)."""
    created_at: datetime
