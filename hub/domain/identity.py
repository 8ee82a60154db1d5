"""People: accounts, the API keys they act with, and what they may be called.

A person signs up with a username (unique whatever its case), an optional email (unique
too), a display name and a password; logging in issues a named user key (`usr_…`),
shown once. What a person does to what they own is written to the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

__all__ = [
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "USERNAME_PATTERN",
    "AuditAction",
    "Email",
    "KeyName",
    "Password",
    "User",
    "UserKey",
    "UserPrincipal",
    "Username",
]

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{2,31}$"
Username = Annotated[
    str,
    msgspec.Meta(
        pattern=USERNAME_PATTERN,
        description="3-32 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
]
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[
    str, msgspec.Meta(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)
]
KeyName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]

AuditAction = Literal[
    "user.created",
    "user.logged_in",
    "key.created",
    "key.revoked",
    "agent.created",
    "agent.updated",
    "agent_key.created",
    "agent_key.revoked",
    "agent_config.revised",
    "agent_config.rolled_back",
    "agent_config.schema_set",
    "agent_config.schema_cleared",
    "agent.session_created",
    "agent.session_joined",
    "session.watched",
    "session.moved",
    "space.created",
    "space.updated",
    "space.archived",
    "space.unarchived",
    "space.member_added",
    "space.member_changed",
    "space.member_removed",
    "template.created",
    "template.revised",
    "template.archived",
    "template.unarchived",
    "rating.given",
    "rating.changed",
    "rating.deleted",
    "secret.created",
    "secret.replaced",
    "secret.read",
    "secret.resealed",
    "secret.deleted",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
    "webhook.secret_rotated",
    "webhook.redelivered",
    "pool.created",
    "pool.granted",
    "pool.refunded",
    "runner_key.created",
    "runner_key.revoked",
]


class User(msgspec.Struct, kw_only=True):
    """A person's account, as they and the API see it (never the password hash)."""

    id: str
    username: str
    email: str | None
    display_name: str
    created_at: datetime


class UserKey(msgspec.Struct, kw_only=True):
    """A user key as listed: its id and name, never its text."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class UserPrincipal(msgspec.Struct, frozen=True, kw_only=True):
    """Who a user key speaks for: a person, through one of their keys."""

    user_id: str
    username: str
    key_id: str
