"""Notes: created, and edited at the version the editor read (optimistic locking; a stale
edit gets `conflict` carrying the current note); every accepted change is kept as a
version, which any token of the session may list, read and compare."""

from __future__ import annotations

from hub import api
from hub.domain import (
    ActivityAction,
    Note,
    NoteVersion,
    Principal,
    require,
    text_diff,
)
from hub.domain.webhooks import OutboxType
from hub.errors import HubError
from hub.protocol import NoteEvent
from hub.services.events import Events
from hub.store import Store, changes
from hub.store import notes as note_store
from hub.store import sessions as session_store

__all__ = ["Notes"]


class Notes:
    def __init__(self, store: Store, events: Events) -> None:
        self._store = store
        self._events = events

    async def save(
        self,
        principal: Principal,
        *,
        note_id: int | None,
        title: str | None,
        content: str,
        expected_version: int,
    ) -> Note:
        """Create a note (no id, expected_version 0) or edit one at its current version."""
        require(principal, "edit_notes")
        async with self._store.transaction() as conn:
            await session_store.hold_for_write(conn, principal.session_id)
            if note_id is None:
                if expected_version != 0:
                    raise HubError("bad_request", "a new note has expected_version 0")
                note = await note_store.create_note(
                    conn,
                    principal.session_id,
                    title or "Untitled",
                    content,
                    principal.participant_id,
                )
                action: ActivityAction = "note.created"
            else:
                note = await note_store.update_note(
                    conn,
                    principal.session_id,
                    note_id,
                    content=content,
                    title=title,
                    expected_version=expected_version,
                    editor=principal.participant_id,
                )
                action = "note.updated"
            kind: OutboxType = "note.created" if note_id is None else "note.updated"
            await changes.record_as(
                conn,
                principal,
                action,
                {"note_id": note.id, "version": note.version},
                outbox=(kind, NoteEvent(note=note)),
            )
        await self._events.publish(principal.session_id, NoteEvent(note=note))
        return note

    async def list(self, principal: Principal) -> list[Note]:
        async with self._store.connection() as conn:
            return await note_store.list_notes(conn, principal.session_id)

    async def get(self, principal: Principal, note_id: int) -> Note:
        async with self._store.connection() as conn:
            return await note_store.get_note(conn, principal.session_id, note_id)

    async def versions(
        self, principal: Principal, note_id: int, query: api.VersionQuery
    ) -> api.NoteVersionPage:
        """A note's versions newest first, a page at a time (keyset: `before` a version)."""
        async with self._store.connection() as conn:
            versions = await note_store.list_note_versions(
                conn, principal.session_id, note_id, before=query.before, limit=query.limit
            )
        last = versions[-1].version if versions else 1
        more = len(versions) == query.limit and last > 1
        return api.NoteVersionPage(versions=versions, next_before=last if more else None)

    async def version(self, principal: Principal, note_id: int, version: int) -> NoteVersion:
        async with self._store.connection() as conn:
            return await note_store.get_note_version(conn, principal.session_id, note_id, version)

    async def diff(self, principal: Principal, note_id: int, old: int, new: int) -> api.NoteDiff:
        """What changed from version `old` to version `new`: the title, and the content
        as a unified diff."""
        async with self._store.connection() as conn:
            before = await note_store.get_note_version(conn, principal.session_id, note_id, old)
            after = await note_store.get_note_version(conn, principal.session_id, note_id, new)
        title = (
            api.TitleChange(from_=before.title, to=after.title)
            if before.title != after.title
            else None
        )
        lines = text_diff(
            before.content, after.content, old_name=f"version {old}", new_name=f"version {new}"
        )
        return api.NoteDiff(note_id=note_id, from_=old, to=new, title=title, diff=lines)
