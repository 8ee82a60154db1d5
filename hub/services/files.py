"""Files: written whole (agents), guarded by the content hash the writer read."""

from __future__ import annotations

from hub.domain import FileEntry, FileInfo, Principal, require, validate_path
from hub.protocol import FileEvent
from hub.services.events import Events
from hub.store import Store, changes
from hub.store import files as file_store
from hub.store import sessions as session_store

__all__ = ["Files"]


class Files:
    def __init__(self, store: Store, events: Events) -> None:
        self._store = store
        self._events = events

    async def write(
        self, principal: Principal, path: str, content: str, *, expected_hash: str | None
    ) -> FileEntry:
        """Write a file; with `expected_hash`, only over that content ("": a new file)."""
        require(principal, "write_files")
        path = validate_path(path)
        async with self._store.transaction() as conn:
            await session_store.hold_for_write(conn, principal.session_id)
            entry = await file_store.write_file(
                conn,
                principal.session_id,
                path,
                content,
                editor=principal.participant_id,
                expected_hash=expected_hash,
            )
            await changes.record_as(
                conn, principal, "file.written", {"path": path, "content_hash": entry.content_hash}
            )
        await self._events.publish(principal.session_id, FileEvent(file=entry))
        return entry

    async def list(self, principal: Principal) -> list[FileInfo]:
        async with self._store.connection() as conn:
            return await file_store.list_files(conn, principal.session_id)

    async def get(self, principal: Principal, path: str) -> FileEntry:
        async with self._store.connection() as conn:
            return await file_store.get_file(conn, principal.session_id, validate_path(path))
