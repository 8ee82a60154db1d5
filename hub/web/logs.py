"""What the web layer writes to the log, and what it keeps out of it.

The access log: one line per request, secrets redacted from the path. Exceptions no
handler expected: one log line each, tracebacks rate-limited. Every request gets an id
(`request_context`), named by every line logged while it is served (see `hub.logs`).

A client that keeps triggering the same bug must not flood the log: each place an
exception comes from (its type and the innermost frame) logs its traceback at most once
per `TRACEBACK_INTERVAL`; repeats in between log one line, counted in the next traceback.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from hub.logs import bind_request, new_request_id, unbind_request
from hub.web.keys import REQUEST_ID

__all__ = [
    "TRACEBACK_INTERVAL",
    "AccessLogger",
    "Unexpected",
    "logged_path",
    "quiet_http_parser_errors",
    "request_context",
    "unexpected",
]

TRACEBACK_INTERVAL = 60.0
_MAX_PLACES = 1024

log = logging.getLogger("hub.unexpected")


class Unexpected:
    """Logs unexpected exceptions, with at most one traceback per place and interval."""

    def __init__(self, interval: float = TRACEBACK_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[tuple[str, str, int], tuple[float, int]] = {}

    def report(self, exc: BaseException, context: str) -> None:
        """Log `exc` (raised while doing `context`): a traceback if this place has not
        shown one within the interval, otherwise a single line."""
        place = _place(exc)
        now = time.monotonic()
        shown, suppressed = self._last.get(place, (-self.interval, 0))
        if now - shown >= self.interval:
            if len(self._last) >= _MAX_PLACES:
                self._last.clear()
            self._last[place] = (now, 0)
            more = f" ({suppressed} more like it since the last traceback)" if suppressed else ""
            log.error("unexpected error in %s%s", context, more, exc_info=exc)
        else:
            self._last[place] = (shown, suppressed + 1)
            log.error("unexpected error in %s: %s: %s", context, type(exc).__name__, exc)


def _place(exc: BaseException) -> tuple[str, str, int]:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return (type(exc).__qualname__, "", 0)
    return (type(exc).__qualname__, frames[-1].filename, frames[-1].lineno or 0)


unexpected = Unexpected()


class _HttpParserErrors(logging.Filter):
    """aiohttp logs a request its HTTP parser refuses (an over-long header line, say)
    with a traceback quoting the offending bytes, which may be a token. Keep one line
    naming the error class and the client, without the bytes, at most once a second."""

    def __init__(self) -> None:
        super().__init__()
        self._last = -1.0
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info is None or record.exc_info[1] is None:
            return True
        now = time.monotonic()
        if now - self._last < 1.0:
            self._suppressed += 1
            return False
        exc = record.exc_info[1]
        more = f" ({self._suppressed} more since)" if self._suppressed else ""
        self._last, self._suppressed = now, 0
        status = getattr(exc, "code", None) or getattr(exc, "status", None) or ""
        said = record.getMessage()
        record.msg = f"%s (refused: {type(exc).__name__} {status}){more}"
        record.args = (said,)
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_parser_filter = _HttpParserErrors()


def quiet_http_parser_errors() -> None:
    """Install the filter on aiohttp's server logger (once per process)."""
    server_log = logging.getLogger("aiohttp.server")
    if _parser_filter not in server_log.filters:
        server_log.addFilter(_parser_filter)


@web.middleware
async def request_context(request: web.Request, handler: Any) -> web.StreamResponse:
    """Give the request an id, kept on the request (for the access log) and bound for
    the lines logged while it is served (a websocket's, for its whole life)."""
    request_id = request[REQUEST_ID] = new_request_id()
    token = bind_request(request_id)
    try:
        response: web.StreamResponse = await handler(request)
        return response
    finally:
        unbind_request(token)


# Answered often and mechanically (probes, scrapes): logged only when they fail.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
REDACTED = "<redacted>"
# Secrets that can appear in a path: an invite code (words, then digits: whatever the
# exact format) and a token (a role prefix, or any long run of URL-safe characters).
_INVITE_LIKE = re.compile(r"^(?:[A-Za-z]+[-_\s]+){2,}[0-9]+(?:[-_\s]+[0-9]+)*$")
_TOKEN_LIKE = re.compile(r"^(?:agt|obs)_|^[A-Za-z0-9_-]{32,}$")


def logged_path(raw_path: str) -> str:
    """The path as the access log writes it: percent-encoded as received (no control
    characters reach the log), with whatever follows `/join/` and every segment that
    looks like an invite code or a token replaced by `<redacted>`."""
    if raw_path.startswith("/join/"):
        return "/join/" + REDACTED
    segments = raw_path.split("/")
    for index, segment in enumerate(segments):
        plain = unquote(segment)
        if _INVITE_LIKE.match(plain) or _TOKEN_LIKE.match(plain):
            segments[index] = REDACTED
    return "/".join(segments)


class AccessLogger(AbstractAccessLogger):
    """One line per request, with the path but never the query string (tokens may be
    passed there), invite codes and tokens redacted from the path; health probes and
    metrics scrapes only when they fail."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logging.getLogger("hub.access"), log_format)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = request.rel_url.raw_path
        if path in QUIET_PATHS and response.status < 400:
            return
        self.logger.info(
            '%s "%s %s" %d %.1fms',
            request.remote,
            request.method,
            logged_path(path),
            response.status,
            time * 1000,
            extra={"request_id": request.get(REQUEST_ID)},
        )
