"""The credentials vault: named third-party secrets a person keeps (an LLM provider key,
a GitHub token). The domain knows their names and times, never their values; values are
sealed by `hub.vault` and read back only by their owner."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

__all__ = [
    "MAX_SECRET_CHARS",
    "SECRET_NAME_PATTERN",
    "Secret",
    "SecretName",
    "SecretValue",
]

MAX_SECRET_CHARS = 16_384
"""Room for any API key or token, a service account's JSON or a PEM private key."""

SECRET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"

SecretName = Annotated[
    str,
    msgspec.Meta(
        pattern=SECRET_NAME_PATTERN,
        description="1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
]
SecretValue = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SECRET_CHARS)]


class Secret(msgspec.Struct, kw_only=True):
    """A secret as listed: its name and times, never its value."""

    name: str
    created_at: datetime
    updated_at: datetime
    """When the value was last set."""
    last_used_at: datetime | None
    """When its owner last read it (None: never)."""
