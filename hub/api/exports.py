"""REST bodies of a session's export: its query, and the JSON document's shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from hub.domain import (
    Activity,
    Artifact,
    ArtifactVersion,
    Attachment,
    FileEntry,
    FileVersion,
    Message,
    Note,
    NoteVersion,
    Session,
)
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
    version) hold every version, the latest included, as do `artifact_versions`;
    `attachments` is the uploads' metadata, not their bytes. The document ends with
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
    attachments: list[Attachment] = []
    """Every upload's metadata (name, type, size, SHA-256, uploader), oldest first; not
    its bytes (download each from the attachments route)."""
    artifacts: list[Artifact] = []
    """The artifacts as they stand, by id."""
    artifact_versions: list[ArtifactVersion] = []
    """Every version of every artifact, with its data, by artifact then version."""
    activity: list[Activity]
    complete: bool
