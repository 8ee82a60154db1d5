"""Configuration: one msgspec struct, read from `HUB_*` environment variables.

A bad value stops the process with a message naming the variable and what was wrong.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Literal

import msgspec

from hub.domain.webhooks import Allowance, parse_allowance
from hub.vault import Keyring

__all__ = ["Config", "ConfigError", "Network", "load_config", "parse_networks"]

Positive = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]


class Config(msgspec.Struct, kw_only=True, frozen=True):
    """Every setting of a hub process. Defaults run a single embedded process."""

    database_url: str | None = None
    """PostgreSQL URL; unset: start an embedded PostgreSQL in `data_dir`."""
    redis_url: str | None = None
    """Redis URL; unset: the in-memory bus (single process)."""
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    data_dir: str = "var"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    """`json`: every log line one JSON object (time, level, logger, message, and the
    request, session and participant ids when known); `text`: lines for people."""
    db_pool_size: PositiveInt = 10
    db_timeout: Positive = 2.0
    """Seconds any wait on PostgreSQL may take (connecting, taking a pooled connection,
    the work done with it) before the request is answered `unavailable`; a message send
    is answered within this of its arrival, committed or not."""
    heartbeat_interval: Positive = 20.0
    """Seconds between websocket pings; a peer silent for two intervals is dropped."""
    max_frame_bytes: PositiveInt = 1_048_576
    """Larger websocket frames close the connection with 1009."""
    send_queue_frames: PositiveInt = 2048
    """Frames queued for one connection before it is closed as too slow (4008). One
    commit can queue a burst of twice `commit_batch_max` (messages and their acks), so
    this must be larger than that."""
    rate_per_second: Positive = 100.0
    rate_burst: PositiveInt = 400
    """Client frames per connection: sustained rate and burst before `rate_limited`."""
    invite_attempts_per_minute: PositiveInt = 20
    """Invite redemptions per client address per minute (guards against guessing)."""
    invite_failures_per_minute: PositiveInt = 1200
    """Failed invite redemptions per minute on the whole hub (every process together
    when on Redis): bounds the guessing rate however many addresses guess."""
    session_creations_per_minute: PositiveInt = 30
    """Sessions created per client address per minute (bursts of as many)."""
    signups_per_minute: PositiveInt = 10
    """Accounts created per client address per minute (bursts of as many)."""
    login_attempts_per_minute: PositiveInt = 30
    """Log-in attempts per client address per minute (bursts of as many)."""
    anonymous_searches_per_minute: PositiveInt = 60
    """Searches without a user key (`GET /api/search`, the public scope) per client
    address per minute (bursts of as many): each ranks up to 10,000 messages."""
    login_failures_per_account: PositiveInt = 10
    """Failed log-ins an account takes before further attempts are refused; one more
    is allowed every 90 seconds (so 10 per 15 minutes), counted over every process when
    on Redis, whatever address they come from, attempts made at once included."""
    max_connections_per_participant: PositiveInt = 16
    """Websockets one participant of a session may hold at once, over every process."""
    stream_delta_interval: Positive = 0.04
    """Seconds between two `stream_delta` events of one stream: the deltas an author
    sends meanwhile are relayed together, as one."""
    stream_abort_timeout: Positive = 30.0
    """Seconds a stream stays open after its author's last connection to the hub process
    holding it ends; the author may reconnect there and go on meanwhile. Then it ends
    aborted, and nothing is committed."""
    max_streams_per_participant: PositiveInt = 4
    approval_sweep_interval: Positive = 5.0
    """Seconds between two looks of each hub process for approval requests whose time is
    up (each is then decided `expired`, once over every process). A request read or
    decided after its time is decided `expired` at once, whatever the sweep."""
    """Streams one participant of a session may hold open at once, over every process."""
    job_lease_seconds: Positive = 30.0
    """Seconds a runner's claim on a job lasts unless renewed (by a heartbeat, progress or
    log lines); a lease that runs out puts the job back in the queue."""
    job_sweep_interval: Positive = 2.0
    """Seconds between two looks of each hub process for jobs whose lease ran out (each
    goes back to the queue, or ends `timed_out` after its last attempt, once over every
    process)."""
    trusted_proxies: str = ""
    """Comma-separated IPs/CIDRs of proxies whose X-Forwarded-For is believed."""
    header_timeout: Positive = 10.0
    """Seconds a new connection has to send a complete request header."""
    keepalive_timeout: Positive = 15.0
    """Seconds an idle kept-alive connection (or one trickling its next request's
    header) stays open."""
    invite_ttl_seconds: PositiveInt = 7 * 24 * 3600
    commit_batch_max: PositiveInt = 512
    """Most messages committed in one group-commit transaction."""
    shutdown_timeout: Positive = 10.0
    max_concurrent_exports: PositiveInt = 4
    """Session exports one process streams at once (each holds a PostgreSQL connection
    for its whole length); one more is answered 429 `rate_limited` with Retry-After."""
    export_timeout: Positive = 600.0
    """Seconds an export may take from its first read to its last byte; one still
    running then is cut off (the connection is aborted)."""
    mcp_http: bool = True
    """Whether the hub serves MCP's Streamable HTTP transport at `/mcp` (the bearer token
    is a session token), so a remote AI agent joins with nothing installed."""
    mcp_idle_timeout: Positive = 1800.0
    """Seconds an MCP session over HTTP (and the token's bridge) may go without a request
    before it is closed; the client then starts a new one."""
    attachment_max_bytes: PositiveInt = 100 * 1024 * 1024
    """The largest attachment one upload may carry (100 MiB); a larger one is refused
    413 `payload_too_large` and nothing is stored."""
    attachment_quota_bytes: PositiveInt = 1024 * 1024 * 1024
    """What one session's attachments may hold in all (1 GiB), each distinct content
    counted once; an upload past it is refused 413 `quota_exceeded`."""
    attachment_receiving_per_session: PositiveInt = 4
    """Uploads of one session a process receives at once (each is spooled to disk, up to
    the size limit, before its bytes are known); one more is refused 429 `rate_limited`."""
    attachment_receiving: PositiveInt = 16
    """Uploads a process receives at once, whatever their sessions."""
    attachment_downloads: PositiveInt = 64
    """Attachment downloads a process streams at once (each reads the database as its
    reader reads); one more is refused 429 `rate_limited`."""
    deliver_webhooks: bool = True
    """Whether `hub serve` delivers webhooks itself (the embedded default); set it false
    on web processes when `hub worker` processes deliver them."""
    webhook_allow_private: bool = False
    """Let webhooks reach loopback, private and other internal addresses, and plain
    `http://` URLs (development and tests only)."""
    webhook_allow: str = ""
    """An allow-list beside `webhook_allow_private`: networks (`10.1.0.0/16`, an address)
    webhooks may reach although internal, and host names (`hooks.internal`,
    `*.corp.example`) they may reach whatever those resolve to (and over `http://`)."""
    webhook_timeout: Positive = 15.0
    """Seconds one delivery attempt may take (connecting, sending, the answer)."""
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000"
    """Seconds to wait after the 1st, 2nd, ... failed attempt of an event (then the last
    value again), each stretched by up to 10% at random; a longer `Retry-After` wins."""
    webhook_disable_after: Positive = 5 * 86400.0
    """Seconds an endpoint may fail without a single success before it is disabled."""
    webhook_poll_interval: Positive = 1.0
    """Seconds between a worker's looks for new events when it has nothing to do."""
    webhook_lease: Positive = 60.0
    """Seconds a worker holds a stream (renewed at each delivery): a worker that dies
    gives its streams up after this. More than `webhook_timeout`."""
    webhook_concurrency: PositiveInt = 16
    """Streams (endpoint and session) one worker delivers at once."""
    webhook_endpoint_concurrency: PositiveInt = 8
    """Streams of one endpoint delivered at once, over all workers (a worker leases no
    more of an endpoint's while that many are leased), so that a slow endpoint hearing
    many sessions takes that many delivery slots, not all of them."""
    webhook_retention_days: Positive = 30.0
    """Days the delivery log's attempts and the outbox's events (changes other than
    messages) are kept; an event still undelivered then is dropped."""
    webhook_metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    """Where a `hub worker` process serves `/metrics` (on `host`); 0: nowhere (`hub
    serve`'s own `/metrics` shows its in-process delivery)."""
    secret_key: str | None = None
    """The vault's keyring (`HUB_SECRET_KEY`): `id:base64(32 bytes)`, comma-separated,
    newest first (see `hub.vault`). Unset: `hub serve` on the embedded PostgreSQL keeps a
    generated one in `data_dir`; on a configured database it refuses to start. Never
    shown by `repr`."""

    def __post_init__(self) -> None:
        if self.secret_key is not None:
            try:
                Keyring.parse(self.secret_key)
            except ValueError as exc:
                raise ValueError(f"HUB_SECRET_KEY: {exc}") from None
        try:
            parse_networks(self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"HUB_TRUSTED_PROXIES: {exc}") from None
        try:
            self.webhook_allowance()
        except ValueError as exc:
            raise ValueError(f"HUB_WEBHOOK_ALLOW: {exc}") from None
        try:
            self.retry_schedule()
        except ValueError as exc:
            raise ValueError(f"HUB_WEBHOOK_RETRY_SCHEDULE: {exc}") from None
        if self.webhook_lease <= self.webhook_timeout:
            raise ValueError("HUB_WEBHOOK_LEASE must be more than HUB_WEBHOOK_TIMEOUT")
        if self.send_queue_frames <= 2 * self.commit_batch_max:
            raise ValueError(
                "HUB_SEND_QUEUE_FRAMES must be more than twice HUB_COMMIT_BATCH_MAX"
                f" ({self.send_queue_frames} <= 2 x {self.commit_batch_max})"
            )

    def webhook_allowance(self) -> Allowance:
        """What webhooks may reach beyond public addresses (`hub.domain.webhooks`)."""
        return parse_allowance(self.webhook_allow, everything=self.webhook_allow_private)

    def retry_schedule(self) -> tuple[float, ...]:
        """`webhook_retry_schedule` as seconds (1-20 values, each 0 to a day)."""
        values = tuple(float(v) for v in self.webhook_retry_schedule.split(","))
        if not 1 <= len(values) <= 20 or not all(0 <= v <= 86_400 for v in values):
            raise ValueError("1-20 comma-separated seconds, each 0-86400")
        return values

    def __repr__(self) -> str:
        shown = (
            f"{name}={'<hidden>' if name == 'secret_key' and value else value!r}"
            for name, value in msgspec.structs.asdict(self).items()
        )
        return f"Config({', '.join(shown)})"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_networks(spec: str) -> tuple[Network, ...]:
    """`"10.0.0.1, 10.1.0.0/16"` as networks (an address is a network of one)."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()
    )


_FIELD_ENV = {name: "HUB_" + name.upper() for name in Config.__struct_fields__}


class ConfigError(ValueError):
    pass


def load_config(environ: Mapping[str, str] | None = None, **overrides: object) -> Config:
    """Build the config from `HUB_*` variables (and `PORT`), then apply `overrides`."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    if "PORT" in env:
        raw["port"] = env["PORT"]
    for field, var in _FIELD_ENV.items():
        if var in env and env[var] != "":
            raw[field] = env[var]
    raw.update(overrides)
    try:
        return msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = re.search(r"`\$\.(\w+)`", message)
        if match is None:
            raise ConfigError(message) from None
        raise ConfigError(f"invalid {_FIELD_ENV[match.group(1)]}: {message}") from None
