"""Notes: shared Markdown documents edited under optimistic version locking."""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["MAX_NOTE_CHARS", "Note", "NoteSummary"]

MAX_NOTE_CHARS = 200_000


class Note(msgspec.Struct, kw_only=True):
    """A markdown document; `version` increases by one on every accepted edit."""

    id: int
    session_id: str
    title: str
    content: str
    version: int
    last_editor: str
    created_at: datetime
    updated_at: datetime


class NoteSummary(msgspec.Struct, kw_only=True):
    """A note without its content (as listed in `hello`); `size` is the content's length
    in characters. Read the content with GET /api/sessions/{id}/notes/{note_id}."""

    id: int
    title: str
    version: int
    size: int
    last_editor: str
    updated_at: datetime
