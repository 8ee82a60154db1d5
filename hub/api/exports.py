"""REST bodies of a session's export: its query, and the JSON document's shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from hub.domain import Activity, FileEntry, FileVersion, Message, Note, NoteVersion, Session
from hub.domain.exports import ExportFormat, Participant

__all__ = ["ExportQuery", "SessionExport"]


class ExportQuery(msgspec.Struct):
    """Query of GET /export: the format."""

    format: Annotated[
        ExportFormat,
        msgspec.Meta(
            description="json (everything, application/json) or markdown (a transcript,"
            " text/markdown)"
        ),
    ] = "json"


class SessionExport(msgspec.Struct, kw_only=True):
    """A session exported as JSON, keys in this order. `notes` and `files` are as they
    stand; `note_versions` (by note, then version) and `file_versions` (by path, then
    version) hold every version, the latest included. The document ends with
    `"complete": true`: an export cut short mid-stream is not valid JSON."""

    format: str
    """Always "hub.session-export"."""
    version: int
    """The document's version: 1."""
    exported_at: datetime
    session: Session
    participants: list[Participant]
    messages: list[Message]
    notes: list[Note]
    note_versions: list[NoteVersion]
    files: list[FileEntry]
    file_versions: list[FileVersion]
    activity: list[Activity]
    complete: bool
