"""Exporting a session: the JSON document and the Markdown transcript, each written as a
sequence of pieces (a head, then each section's rows a batch at a time, then an end), so
the caller can stream a session of any size in bounded memory. Nothing here does I/O.

The JSON document is one object whose keys come in this order: `format`, `version`,
`exported_at`, `session`, `participants`, then the sections of `JSON_SECTIONS` (each an
array), then `"complete": true`. Any prefix of the stream is not valid JSON, so a cut-off
export cannot pass for a whole one.

The Markdown transcript is for people: the session, its messages with author names and
times, then its notes and files as they stand, then its artifacts as they stand (title,
kind, version, the message each is on; not their data). Everything a participant wrote is
either fenced (message, note and file contents, in a fence longer than any run of
backticks they hold) or escaped onto one line (names, titles, paths), so no text can end
a fence, start a heading or open a link of its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import msgspec

from hub.domain.access import AuthorRole, Role
from hub.domain.artifacts import Artifact
from hub.domain.files import FileEntry
from hub.domain.messages import Message
from hub.domain.notes import Note
from hub.domain.sessions import Session

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "JSON_SECTIONS",
    "MARKDOWN_SECTIONS",
    "ExportFormat",
    "ExportHeader",
    "ExportWriter",
    "JsonExport",
    "MarkdownExport",
    "Participant",
    "Section",
    "escape_inline",
    "export_file_name",
    "fenced",
    "writer_for",
]

ExportFormat = Literal["json", "markdown"]
Section = Literal[
    "messages",
    "notes",
    "note_versions",
    "files",
    "file_versions",
    "attachments",
    "artifacts",
    "artifact_versions",
    "activity",
]

EXPORT_FORMAT = "hub.session-export"
EXPORT_VERSION = 1
JSON_SECTIONS: tuple[Section, ...] = (
    "messages",
    "notes",
    "note_versions",
    "files",
    "file_versions",
    "attachments",
    "artifacts",
    "artifact_versions",
    "activity",
)
MARKDOWN_SECTIONS: tuple[Section, ...] = ("messages", "notes", "files", "artifacts")


class Participant(msgspec.Struct, kw_only=True):
    """Someone who held a token of the session: their id, role and name (if they gave one)."""

    participant_id: str
    role: Role
    display_name: str | None


class ExportHeader(msgspec.Struct, kw_only=True):
    """What an export starts with, before its sections."""

    format: str = EXPORT_FORMAT
    version: int = EXPORT_VERSION
    exported_at: datetime
    session: Session
    participants: list[Participant]


def export_file_name(session: Session, fmt: ExportFormat) -> str:
    """A file name safe anywhere (ASCII letters, digits, `-`, `_` and one dot): the
    session id and, when it has any such letters, its name."""
    ascii_name = unicodedata.normalize("NFKD", session.name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:48].strip("-")
    ext = "json" if fmt == "json" else "md"
    return f"{session.id}-{slug}.{ext}" if slug else f"{session.id}.{ext}"


class ExportWriter(Protocol):
    """Writes one format: `head`, then for each of `sections` in order `open`, `rows`
    once per batch and `close`, then `end`."""

    media_type: str
    sections: tuple[Section, ...]

    def head(self, header: ExportHeader) -> bytes: ...

    def open(self, section: Section) -> bytes: ...

    def rows(self, batch: Sequence[Any]) -> bytes: ...

    def close(self) -> bytes: ...

    def end(self) -> bytes: ...


def writer_for(fmt: ExportFormat) -> ExportWriter:
    return JsonExport() if fmt == "json" else MarkdownExport()


# --- JSON ----------------------------------------------------------------------------------


class JsonExport:
    """The JSON document (see the module's docstring for its shape)."""

    media_type = "application/json"
    sections = JSON_SECTIONS

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._first = True

    def head(self, header: ExportHeader) -> bytes:
        return self._encoder.encode(header)[:-1]  # the object stays open for the sections

    def open(self, section: Section) -> bytes:
        self._first = True
        return b',"' + section.encode() + b'":['

    def rows(self, batch: Sequence[Any]) -> bytes:
        if not batch:
            return b""
        joined = b",".join(self._encoder.encode(row) for row in batch)
        if self._first:
            self._first = False
            return joined
        return b"," + joined

    def close(self) -> bytes:
        return b"]"

    def end(self) -> bytes:
        return b',"complete":true}\n'


# --- Markdown ------------------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]+")
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_BACKTICKS = re.compile(r"`+")
_ROLE: dict[AuthorRole, str] = {
    "agent_a": "agent A",
    "agent_b": "agent B",
    "observer": "observer",
    "system": "system",
}


def escape_inline(text: str) -> str:
    """`text` as Markdown that renders as itself on one line: line breaks and control
    characters become spaces and every ASCII punctuation character is backslash-escaped
    (CommonMark lets any be), so no emphasis, link, code span, HTML or heading can form."""
    return _PUNCTUATION.sub(r"\\\1", _LINE_BREAKS.sub(" ", text)).strip() or "(empty)"


def fenced(text: str, info: str = "") -> str:
    """`text` as a fenced code block whose fence is longer than any run of backticks in
    it, so no line of `text` can close it (`info` must hold no backtick)."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith(("\n", "\r")) or not text else text + "\n"
    return f"{fence}{info}\n{body}{fence}\n"


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _language(path: str) -> str:
    """A fence's info string for a file: its extension, if a plain one."""
    _, dot, ext = path.rpartition(".")
    return ext.lower() if dot and re.fullmatch(r"[A-Za-z0-9]{1,16}", ext) else ""


class MarkdownExport:
    """The Markdown transcript: the session, then its messages (author, time, content),
    then its notes, files and artifacts as they stand."""

    media_type = "text/markdown"
    sections = MARKDOWN_SECTIONS

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._section: Section = "messages"
        self._empty = True

    def head(self, header: ExportHeader) -> bytes:
        s = header.session
        for p in header.participants:
            self._names[p.participant_id] = p.display_name or p.participant_id
        people = ", ".join(
            f"{escape_inline(p.display_name or p.participant_id)} ({_ROLE[p.role]})"
            for p in header.participants
        )
        lines = [
            f"# {escape_inline(s.name)}",
            "",
            f"- Session: {escape_inline(s.id)}",
            f"- Status: {s.status}, mode: {s.mode}",
            f"- Created: {_when(s.created_at)}",
            f"- Exported: {_when(header.exported_at)}",
            f"- Messages: {s.last_message_id}",
            f"- Participants: {people or 'none'}",
            "",
        ]
        return "\n".join(lines).encode() + b"\n"

    def open(self, section: Section) -> bytes:
        self._section = section
        self._empty = True
        titles = {
            "messages": "Messages",
            "notes": "Notes",
            "files": "Files",
            "artifacts": "Artifacts",
        }
        title = titles.get(section, section)
        return f"## {title}\n\n".encode()

    def rows(self, batch: Sequence[Any]) -> bytes:
        if batch:
            self._empty = False
        renderers: dict[Section, Callable[[Any], str]] = {
            "messages": self._message,
            "notes": self._note,
            "files": self._file,
            "artifacts": self._artifact,
        }
        render = renderers[self._section]
        return "".join(render(row) for row in batch).encode()

    def close(self) -> bytes:
        return f"No {self._section} yet.\n\n".encode() if self._empty else b""

    def end(self) -> bytes:
        return b""

    def _message(self, m: Message) -> str:
        name = self._names.get(m.author_id, m.author_id)
        who = f"{escape_inline(name)} ({_ROLE[m.author_role]})"
        head = f"### #{m.id} · {who} · {_when(m.created_at)}"
        notes = []
        if m.msg_type != "chat":
            notes.append(f"type: {m.msg_type}")
        if m.parent_id is not None:
            notes.append(f"in reply to #{m.parent_id}")
        if m.attachments:
            notes.append("attached: " + ", ".join(escape_inline(a) for a in m.attachments))
        if m.attachment_ids:
            notes.append("attachments: " + ", ".join(escape_inline(a) for a in m.attachment_ids))
        extra = f"*{'; '.join(notes)}*\n\n" if notes else ""
        return f"{head}\n\n{extra}{fenced(m.content)}\n"

    def _note(self, n: Note) -> str:
        by = escape_inline(self._names.get(n.last_editor, n.last_editor))
        return (
            f"### {escape_inline(n.title)}\n\n"
            f"*note {n.id}, version {n.version}, last edited by {by} at {_when(n.updated_at)}*"
            f"\n\n{fenced(n.content, 'markdown')}\n"
        )

    def _file(self, f: FileEntry) -> str:
        by = escape_inline(self._names.get(f.last_editor, f.last_editor))
        return (
            f"### {escape_inline(f.path)}\n\n"
            f"*version {f.version}, {f.size} bytes, sha256 {f.content_hash},"
            f" last written by {by} at {_when(f.updated_at)}*\n\n"
            f"{fenced(f.content, _language(f.path))}\n"
        )

    def _artifact(self, a: Artifact) -> str:
        by = escape_inline(self._names.get(a.last_editor, a.last_editor))
        return (
            f"### {escape_inline(a.title)}\n\n"
            f"*artifact {a.id}, {a.kind}, version {a.version}, on message #{a.message_id},"
            f" {a.size} bytes, last edited by {by} at {_when(a.updated_at)}*\n\n"
        )
