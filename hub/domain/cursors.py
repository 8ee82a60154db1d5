"""Keyset page cursors: where the last page ended, as an opaque string handed back to
the client and read again when it asks for the next page."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

from hub.errors import HubError

__all__ = ["decode_cursor", "decode_time_cursor", "encode_cursor", "encode_time_cursor"]


def encode_cursor(key: str, tiebreak: str) -> str:
    """A cursor for the row with sort key `key` and unique `tiebreak`."""
    return base64.urlsafe_b64encode(f"{key}|{tiebreak}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The (key, tiebreak) a cursor holds; `bad_request` for one this hub did not give."""
    try:
        key, sep, tiebreak = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        sep = ""
    if not sep or _CONTROL.search(key) or _CONTROL.search(tiebreak):
        raise HubError("bad_request", "cursor: not one this hub gave")
    return key, tiebreak


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def encode_time_cursor(at: datetime, tiebreak: str) -> str:
    """A cursor for a page sorted by time (newest first) then by a unique id."""
    return encode_cursor(at.isoformat(), tiebreak)


def decode_time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (time, tiebreak) an `encode_time_cursor` cursor holds; None for no cursor."""
    if cursor is None:
        return None
    stamp, tiebreak = decode_cursor(cursor)
    try:
        at = datetime.fromisoformat(stamp)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at.astimezone(UTC), tiebreak
    except (ValueError, OverflowError):
        raise HubError("bad_request", "cursor: not one this hub gave") from None
