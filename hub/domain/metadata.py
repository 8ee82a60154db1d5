"""Metadata: the free JSON object sessions and messages carry, and its bounds."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["MAX_JSON_DEPTH", "MAX_METADATA_BYTES", "check_metadata"]

MAX_METADATA_BYTES = 16_384
"""Encoded size of a message's or session's `metadata`: it is stored and sent with every
copy of the message, so it stays small; bulky data belongs in a file."""
MAX_JSON_DEPTH = 32
"""Levels of objects and arrays in `metadata` (the metadata object itself is level 1)."""


def check_metadata(metadata: dict[str, Any]) -> None:
    """Refuse (ValueError) metadata nested deeper than `MAX_JSON_DEPTH` or larger than
    `MAX_METADATA_BYTES` encoded. Called by msgspec after decoding, so the error names
    the field."""
    if not metadata:
        return
    depth = 0
    level: list[Any] = [metadata]
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"metadata is nested more than {MAX_JSON_DEPTH} levels deep")
        level = [
            child
            for value in level
            for child in (value.values() if isinstance(value, dict) else value)
            if isinstance(child, dict | list)
        ]
    if len(msgspec.json.encode(metadata)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes encoded")
