"""REST bodies of notes and their history. Creating and editing take the websocket's
`UpdateNote` frame without its `type`. The history's queries (`VersionQuery`,
`VersionDiffQuery`) serve files' history too."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.domain import Note, NoteVersionInfo

MAX_VERSION = 2**31 - 1
Version = Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)]


class NoteList(msgspec.Struct, kw_only=True):
    notes: list[Note]


class VersionQuery(msgspec.Struct):
    """Query of GET …/versions: newest first, those below a version."""

    before: (
        Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION, description="versions below this one")]
        | None
    ) = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200, description="at most this many")] = 50


class VersionDiffQuery(msgspec.Struct):
    """Query of GET …/diff: the two versions to compare."""

    from_: Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION, description="the older version")] = (
        msgspec.field(name="from")
    )
    to: Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION, description="the newer version")]


class NoteVersionPage(msgspec.Struct, kw_only=True):
    versions: list[NoteVersionInfo]
    """Newest first, without content (read one with …/versions/{version})."""
    next_before: int | None
    """Pass as `before` for the next (older) page; null when this page is the last."""


class TitleChange(msgspec.Struct, kw_only=True):
    from_: str = msgspec.field(name="from")
    to: str


class NoteDiff(msgspec.Struct, kw_only=True):
    """What changed from version `from` to version `to` of a note."""

    note_id: int
    from_: int = msgspec.field(name="from")
    to: int
    title: TitleChange | None
    """The title before and after; null when it did not change."""
    diff: list[str]
    """A unified diff of the content (difflib, 3 lines of context), one line per item,
    without line ends; empty when the content's lines did not change."""
