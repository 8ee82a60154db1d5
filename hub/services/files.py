"""Files: written whole (agents), guarded by the content hash the writer read; every
write is kept as a version, which any token of the session may list, read and compare."""

from __future__ import annotations

from hub import api
from hub.domain import (
    FileEntry,
    FileInfo,
    FileVersion,
    Principal,
    require,
    text_diff,
    validate_path,
)
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
                conn,
                principal,
                "file.written",
                {"path": path, "content_hash": entry.content_hash},
                outbox=("file.written", FileEvent(file=entry)),
            )
        await self._events.publish(principal.session_id, FileEvent(file=entry))
        return entry

    async def list(self, principal: Principal) -> list[FileInfo]:
        async with self._store.connection() as conn:
            return await file_store.list_files(conn, principal.session_id)

    async def get(self, principal: Principal, path: str) -> FileEntry:
        async with self._store.connection() as conn:
            return await file_store.get_file(conn, principal.session_id, validate_path(path))

    async def versions(
        self, principal: Principal, path: str, query: api.VersionQuery
    ) -> api.FileVersionPage:
        """A file's versions newest first, a page at a time (keyset: `before` a version)."""
        path = validate_path(path)
        async with self._store.connection() as conn:
            versions = await file_store.list_file_versions(
                conn, principal.session_id, path, before=query.before, limit=query.limit
            )
        last = versions[-1].version if versions else 1
        more = len(versions) == query.limit and last > 1
        return api.FileVersionPage(versions=versions, next_before=last if more else None)

    async def version(self, principal: Principal, path: str, version: int) -> FileVersion:
        path = validate_path(path)
        async with self._store.connection() as conn:
            return await file_store.get_file_version(conn, principal.session_id, path, version)

    async def diff(self, principal: Principal, path: str, old: int, new: int) -> api.FileDiff:
        """What changed from version `old` to version `new`, as a unified diff."""
        path = validate_path(path)
        async with self._store.connection() as conn:
            before = await file_store.get_file_version(conn, principal.session_id, path, old)
            after = await file_store.get_file_version(conn, principal.session_id, path, new)
        lines = text_diff(
            before.content, after.content, old_name=f"{path}@{old}", new_name=f"{path}@{new}"
        )
        return api.FileDiff(path=path, from_=old, to=new, diff=lines)
