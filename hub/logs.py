"""How the hub's log lines are written: human lines by default, one JSON object per line
when `HUB_LOG_FORMAT=json`.

Every line written while a request or a websocket connection is served names it: the
web layer sets the ids here (`bind_request`, `bind_connection`) in the context of the
task serving it, and the JSON formatter reads them when it writes a line (tasks started
meanwhile inherit them). The ids are never secrets: a request id is made up here, a
session or participant id is public within its session; tokens are never bound.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar, Token
from typing import Any, Literal

import msgspec
from nanoid import generate as nanoid

__all__ = [
    "CONTEXT_FIELDS",
    "TEXT_FORMAT",
    "JsonFormatter",
    "LogFormat",
    "bind_connection",
    "bind_request",
    "configure_logging",
    "new_request_id",
    "request_id",
    "unbind_request",
]

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTEXT_FIELDS = ("request_id", "session_id", "participant_id")

_request_id: ContextVar[str | None] = ContextVar("hub_request_id", default=None)
_session_id: ContextVar[str | None] = ContextVar("hub_session_id", default=None)
_participant_id: ContextVar[str | None] = ContextVar("hub_participant_id", default=None)
_CONTEXT = dict(zip(CONTEXT_FIELDS, (_request_id, _session_id, _participant_id), strict=True))


def new_request_id() -> str:
    return str(nanoid(size=12))


def bind_request(request_id: str) -> Token[str | None]:
    """Name the request served in this context; returns the token `unbind_request` takes."""
    return _request_id.set(request_id)


def unbind_request(token: Token[str | None]) -> None:
    _request_id.reset(token)


def request_id() -> str | None:
    """The id of the request served in this context, if any."""
    return _request_id.get()


def bind_connection(session_id: str, participant_id: str) -> None:
    """Name the session and participant of the connection served in this context (for
    as long as the task serving it, and the tasks it starts, live)."""
    _session_id.set(session_id)
    _participant_id.set(participant_id)


_encoder = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the ids
    of the request or connection it was written for (when known: from the record's
    `extra`, else from the context), and the traceback as one string field."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field, var in _CONTEXT.items():
            value = getattr(record, field, None) or var.get()
            if value is not None:
                line[field] = str(value)
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return _encoder.encode(line).decode()


def _iso_time(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def configure_logging(level: str, log_format: LogFormat, text_format: str = TEXT_FORMAT) -> None:
    """Send every logger's records to stderr at `level`, as `log_format` says."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(text_format))
    logging.basicConfig(level=level, handlers=[handler])
