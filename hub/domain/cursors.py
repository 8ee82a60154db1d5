"""Keyset page cursors: where the last page ended, as an opaque string handed back to
the client and read again when it asks for the next page."""

from __future__ import annotations

import base64
import binascii

from hub.errors import HubError

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(key: str, tiebreak: str) -> str:
    """A cursor for the row with sort key `key` and unique `tiebreak`."""
    return base64.urlsafe_b64encode(f"{key}|{tiebreak}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The (key, tiebreak) a cursor holds; `bad_request` for one this hub did not give."""
    try:
        key, sep, tiebreak = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        sep = ""
    if not sep:
        raise HubError("bad_request", "cursor: not one this hub gave")
    return key, tiebreak
