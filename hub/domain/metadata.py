"""Metadata: the free JSON object sessions and messages carry, and its bounds."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["MAX_JSON_DEPTH", "MAX_METADATA_BYTES", "check_json", "check_metadata"]

MAX_METADATA_BYTES = 16_384
"""Encoded size of a message's or session's `metadata`: it is stored and sent with every
copy of the message, so it stays small; bulky data belongs in a file."""
MAX_JSON_DEPTH = 32
"""Levels of objects and arrays in `metadata` (the metadata object itself is level 1)."""


def check_json(value: Any, what: str, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse (ValueError, naming `what`) free JSON nested deeper than `max_depth` levels
    (the value itself is level 1) or larger than `max_bytes` encoded."""
    depth = 0
    level: list[Any] = [value] if isinstance(value, dict | list) else []  # a scalar: level 1
    while level:
        depth += 1
        if depth > max_depth:
            raise ValueError(f"{what} is nested more than {max_depth} levels deep")
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    if len(msgspec.json.encode(value)) > max_bytes:
        raise ValueError(f"{what} is larger than {max_bytes} bytes encoded")


def check_metadata(metadata: dict[str, Any]) -> None:
    """Refuse (ValueError) metadata nested deeper than `MAX_JSON_DEPTH` or larger than
    `MAX_METADATA_BYTES` encoded. Called by msgspec after decoding, so the error names
    the field."""
    if metadata:
        check_json(metadata, "metadata", MAX_METADATA_BYTES)
