"""Configuration: one msgspec struct, read from `HUB_*` environment variables.

A bad value stops the process with a message naming the variable and what was wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated

import msgspec

__all__ = ["Config", "ConfigError", "load_config"]

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
    invite_ttl_seconds: PositiveInt = 7 * 24 * 3600
    commit_batch_max: PositiveInt = 512
    """Most messages committed in one group-commit transaction."""
    shutdown_timeout: Positive = 10.0

    def __post_init__(self) -> None:
        if self.send_queue_frames <= 2 * self.commit_batch_max:
            raise ValueError(
                "HUB_SEND_QUEUE_FRAMES must be more than twice HUB_COMMIT_BATCH_MAX"
                f" ({self.send_queue_frames} <= 2 x {self.commit_batch_max})"
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
