"""The one error type of Hub and its codes.

Every layer raises `HubError`; `hub.web.http` is the one place that says what a code
becomes: an HTTP status, an `error` frame carrying the same code, a close code.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["ErrorCode", "HubError"]

ErrorCode = Literal[
    "bad_request",
    "unknown_frame",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "session_not_found",
    "session_deleted",
    "session_full",
    "session_completed",
    "invite_invalid",
    "invite_expired",
    "conflict",
    "invalid_transition",
    "payload_too_large",
    "quota_exceeded",
    "insufficient_credits",
    "lease_lost",
    "rate_limited",
    "unavailable",
    "internal",
]


class HubError(Exception):
    """A failure the caller can act on: a stable `code`, a human `message`, optional data.

    `data` carries what the caller needs to recover, e.g. the current note on a conflict.
    """

    def __init__(self, code: ErrorCode, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode = code
        self.message = message
        self.data = data
