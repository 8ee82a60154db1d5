"""REST bodies of notes. Creating and editing take the websocket's `UpdateNote` frame
without its `type`."""

from __future__ import annotations

import msgspec

from hub.domain import Note


class NoteList(msgspec.Struct, kw_only=True):
    notes: list[Note]
