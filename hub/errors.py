"""The one error type of Hub, its codes, and how each code surfaces over HTTP.

Every layer raises `HubError`; the web layer maps it to an HTTP status here and the
websocket layer sends it as an `error` frame carrying the same code.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["HTTP_STATUS", "ErrorCode", "HubError"]

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
    "rate_limited",
    "unavailable",
    "internal",
]

HTTP_STATUS: dict[str, int] = {
    "bad_request": 400,
    "unknown_frame": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "session_not_found": 404,
    "session_deleted": 410,
    "session_full": 409,
    "session_completed": 409,
    "invite_invalid": 404,
    "invite_expired": 410,
    "conflict": 409,
    "invalid_transition": 409,
    "payload_too_large": 413,
    "rate_limited": 429,
    "unavailable": 503,
    "internal": 500,
}


class HubError(Exception):
    """A failure the caller can act on: a stable `code`, a human `message`, optional data.

    `data` carries what the caller needs to recover, e.g. the current note on a conflict.
    """

    def __init__(self, code: ErrorCode, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode = code
        self.message = message
        self.data = data

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]
