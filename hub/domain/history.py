"""History of notes and files: every accepted note edit and file write is kept as a
version, tied to the session's message history.

The rule: a version written while message m was the session's last message belongs to
the state after message m (its `at_message_id` is m). So the session's notes and files as
they stood after message N are, for each note and file, its latest version with
`at_message_id <= N`; a note or file whose first version has a larger `at_message_id`
did not exist yet (`state_at`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import Protocol, TypeVar

import msgspec

__all__ = [
    "FileVersion",
    "FileVersionInfo",
    "NoteVersion",
    "NoteVersionInfo",
    "state_at",
    "text_diff",
]


class NoteVersionInfo(msgspec.Struct, kw_only=True):
    """One version of a note without its content; `size` is the content's length in
    characters."""

    session_id: str
    note_id: int
    version: int
    title: str
    editor: str
    at_message_id: int
    """The session's last message when this version was written: it belongs to the
    state after that message."""
    created_at: datetime
    size: int


class NoteVersion(NoteVersionInfo, kw_only=True):
    """One version of a note, with its content."""

    content: str


class FileVersionInfo(msgspec.Struct, kw_only=True):
    """One version of a file without its content; `size` in bytes (UTF-8)."""

    session_id: str
    path: str
    version: int
    content_hash: str
    size: int
    editor: str
    at_message_id: int
    """The session's last message when this version was written: it belongs to the
    state after that message."""
    created_at: datetime


class FileVersion(FileVersionInfo, kw_only=True):
    """One version of a file, with its content."""

    content: str


class Versioned(Protocol):
    @property
    def version(self) -> int: ...

    @property
    def at_message_id(self) -> int: ...


V = TypeVar("V", bound=Versioned)


def state_at(versions: Iterable[V], message_id: int, key: Callable[[V], Hashable]) -> list[V]:
    """For each `key` (a note id, a file path), its latest version with
    `at_message_id <= message_id`: the state after that message. Keys with no such
    version (created later) are left out. In the order the keys first appear."""
    latest: dict[Hashable, V] = {}
    for found in versions:
        if found.at_message_id > message_id:
            continue
        k = key(found)
        held = latest.get(k)
        if held is None or found.version > held.version:
            latest[k] = found
    return list(latest.values())


def text_diff(old: str, new: str, *, old_name: str, new_name: str) -> list[str]:
    """A unified diff (3 lines of context) of two texts, one list item per line, without
    line ends; empty when the texts have the same lines."""
    return list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), fromfile=old_name, tofile=new_name, lineterm=""
        )
    )
