"""Note and file versions: one per accepted change, written with it, tied to the
session's last message, so the notes and files after any message can be read back."""

import asyncio
import secrets

import asyncpg
import pytest

from hub.domain import FileVersion, NoteVersion, state_at, text_diff
from hub.domain.artifacts import JsonArtifact
from hub.errors import HubError
from hub.store import Store
from hub.store import artifacts as artifact_store
from hub.store import files as file_store
from hub.store import notes as note_store
from hub.store import sessions as session_store
from hub.store.message_batch import insert_batch
from tests.store.test_messages import Commit, commit, msg, new_session, store

__all__ = ["commit", "store"]  # fixtures, used by name


async def new_note(store: Store, sid: str, content: str, title: str = "Plan") -> int:
    async with store.transaction() as conn:
        await session_store.hold_for_write(conn, sid)
        return (await note_store.create_note(conn, sid, title, content, "a")).id


async def edit_note(store: Store, sid: str, note_id: int, content: str, at: int) -> None:
    async with store.transaction() as conn:
        await session_store.hold_for_write(conn, sid)
        await note_store.update_note(
            conn, sid, note_id, content=content, title=None, expected_version=at, editor="b"
        )


async def write(
    store: Store, sid: str, path: str, content: str, expected: str | None = None
) -> None:
    async with store.transaction() as conn:
        await session_store.hold_for_write(conn, sid)
        await file_store.write_file(conn, sid, path, content, editor="a", expected_hash=expected)


async def say(commit: Commit, sid: str, content: str) -> int:
    outcome = await commit([msg(sid, content)])
    result = outcome.results[0]
    assert not isinstance(result, HubError)
    return result[0].id


def notes_of(found: list[NoteVersion]) -> dict[int, str]:
    return {v.note_id: v.content for v in found}


def files_of(found: list[FileVersion]) -> dict[str, str]:
    return {v.path: v.content for v in found}


async def test_state_after_each_message_with_interleaved_edits(
    store: Store, commit: Commit
) -> None:
    """Messages, note edits and file writes interleaved: the notes and files read back
    after each message N are exactly those that stood when message N was the last."""
    sid = await new_session(store)
    expected: dict[int, tuple[dict[int, str], dict[str, str]]] = {}
    notes: dict[int, str] = {}
    files: dict[str, str] = {}
    versions: dict[int, int] = {}

    def snapshot(last: int) -> None:
        expected[last] = (dict(notes), dict(files))

    first = await new_note(store, sid, "before any message")  # at message 0
    notes[first], versions[first] = "before any message", 1
    await write(store, sid, "a.txt", "a0")
    files["a.txt"] = "a0"
    snapshot(0)
    last = 0
    for step in range(1, 7):
        last = await say(commit, sid, f"message {step}")
        assert last == step
        if step % 2:
            await edit_note(store, sid, first, f"edit after {step}", versions[first])
            notes[first], versions[first] = f"edit after {step}", versions[first] + 1
        if step == 2:
            second = await new_note(store, sid, "born after 2", title="Later")
            notes[second], versions[second] = "born after 2", 1
        if step in (2, 3, 5):
            await write(store, sid, "a.txt", f"a{step}")
            files["a.txt"] = f"a{step}"
        if step == 4:
            await write(store, sid, "dir/b.txt", "b4", expected="")
            files["dir/b.txt"] = "b4"
        snapshot(last)
    async with store.connection() as conn:
        for n, (want_notes, want_files) in expected.items():
            assert notes_of(await note_store.notes_at(conn, sid, n)) == want_notes, n
            assert files_of(await file_store.files_at(conn, sid, n)) == want_files, n
        # every change made one version, numbered 1, 2, 3 … per note and per file
        listed = await file_store.list_file_versions(conn, sid, "a.txt", before=None, limit=50)
        assert [v.version for v in listed] == [4, 3, 2, 1]
        assert [v.at_message_id for v in listed] == [5, 3, 2, 0]
        current = await file_store.get_file(conn, sid, "a.txt")
        assert current.version == 4 and current.content == "a5"
        history = await note_store.list_note_versions(conn, sid, first, before=None, limit=50)
        assert [v.version for v in history] == [4, 3, 2, 1]
        assert [v.at_message_id for v in history] == [5, 3, 1, 0]
        page = await note_store.list_note_versions(conn, sid, first, before=3, limit=1)
        assert [v.version for v in page] == [2]
        one = await note_store.get_note_version(conn, sid, first, 2)
        assert one.content == "edit after 1" and one.size == len("edit after 1")


async def test_the_pure_rule_agrees_with_the_store(store: Store) -> None:
    """`state_at` over every version gives what `notes_at` and `files_at` read."""
    sid = await new_session(store)
    note = await new_note(store, sid, "one")
    await write(store, sid, "f", "1")
    async with store.transaction() as conn:
        await insert_batch(conn, [msg(sid, "m1"), msg(sid, "m2")])
    await edit_note(store, sid, note, "two", 1)
    await write(store, sid, "f", "2")
    await new_note(store, sid, "late")
    async with store.connection() as conn:
        all_notes = [
            await note_store.get_note_version(conn, sid, v.note_id, v.version)
            for n in (note, note + 1)
            for v in await note_store.list_note_versions(conn, sid, n, before=None, limit=50)
        ]
        all_files = [
            await file_store.get_file_version(conn, sid, "f", v.version)
            for v in await file_store.list_file_versions(conn, sid, "f", before=None, limit=50)
        ]
        for n in (0, 1, 2):
            by_rule = state_at(all_notes, n, lambda v: v.note_id)
            assert sorted(by_rule, key=lambda v: v.note_id) == await note_store.notes_at(
                conn, sid, n
            )
            assert state_at(all_files, n, lambda v: v.path) == await file_store.files_at(
                conn, sid, n
            )
    assert [v.content for v in state_at(all_notes, 1, lambda v: v.note_id)] == ["one"]
    assert {v.content for v in state_at(all_notes, 2, lambda v: v.note_id)} == {"two", "late"}


async def wait_for_a_lock_wait(conn: asyncpg.Connection) -> None:
    async with asyncio.timeout(10):  # PostgreSQL has no event for "a lock is awaited"
        waiting = (  # in this test run's database: the server may serve others
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND a.datname = current_database()"
        )
        while not await conn.fetchval(waiting):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_message_waits_for_a_note_edit_in_flight(store: Store) -> None:
    """A message sent while a note edit is being committed commits after it: the edit's
    version belongs to the state after the previous message, not after the new one."""
    sid = await new_session(store)
    note = await new_note(store, sid, "v1")
    async with store.transaction() as editor:
        await session_store.hold_for_write(editor, sid)
        await note_store.update_note(
            editor, sid, note, content="v2", title=None, expected_version=1, editor="a"
        )

        async def send() -> int:
            async with store.transaction() as conn:
                outcome = await insert_batch(conn, [msg(sid, "m1")])
            result = outcome.results[0]
            assert not isinstance(result, HubError)
            return result[0].id

        sending = asyncio.create_task(send())
        await wait_for_a_lock_wait(editor)
    assert await sending == 1
    async with store.connection() as conn:
        assert notes_of(await note_store.notes_at(conn, sid, 0)) == {note: "v2"}
        version = await note_store.get_note_version(conn, sid, note, 2)
        assert version.at_message_id == 0


async def test_a_file_write_waits_for_a_message_in_flight(store: Store) -> None:
    """A file written while a message is being committed is written after it, and so
    belongs to the state after that message."""
    sid = await new_session(store)
    await write(store, sid, "f", "1")
    async with store.transaction() as sender:
        await insert_batch(sender, [msg(sid, "m1")])
        writing = asyncio.create_task(write(store, sid, "f", "2"))
        await wait_for_a_lock_wait(sender)
    await writing
    async with store.connection() as conn:
        assert files_of(await file_store.files_at(conn, sid, 0)) == {"f": "1"}
        assert files_of(await file_store.files_at(conn, sid, 1)) == {"f": "2"}


async def test_artifact_versions_are_tied_exactly_to_racing_messages(store: Store) -> None:
    """An artifact update being committed while a message is sent commits before it
    (its version is at the previous message); one written while a message is being
    committed waits for it (its version is at that message)."""
    sid = await new_session(store)
    async with store.transaction() as conn:
        await insert_batch(conn, [msg(sid, "m1")])
        await session_store.hold_for_write(conn, sid)
        made = await artifact_store.create_artifact(
            conn, sid, message_id=1, title="T", data=JsonArtifact(value={"v": 1}), creator="a"
        )
        assert made is not None

    async def update(value: int, at: int) -> None:
        async with store.transaction() as conn:
            await session_store.hold_for_write(conn, sid)
            await artifact_store.update_artifact(
                conn,
                sid,
                made.id,
                title=None,
                data=JsonArtifact(value={"v": value}),
                expected_version=at,
                editor="b",
            )

    async def send(content: str) -> None:
        async with store.transaction() as conn:
            await insert_batch(conn, [msg(sid, content)])

    async with store.transaction() as editor:
        await session_store.hold_for_write(editor, sid)
        await artifact_store.update_artifact(
            editor,
            sid,
            made.id,
            title=None,
            data=JsonArtifact(value={"v": 2}),
            expected_version=1,
            editor="a",
        )
        sending = asyncio.create_task(send("m2"))
        await wait_for_a_lock_wait(editor)
    await sending
    async with store.transaction() as sender:
        await insert_batch(sender, [msg(sid, "m3")])
        updating = asyncio.create_task(update(3, 2))
        await wait_for_a_lock_wait(sender)
    await updating
    async with store.connection() as conn:
        found = [
            (v.version, v.at_message_id)
            for v in await artifact_store.list_artifact_versions(
                conn, sid, made.id, before=None, limit=9
            )
        ]
    assert found == [(3, 3), (2, 1), (1, 1)]


async def test_a_refused_change_writes_no_version(store: Store) -> None:
    """A stale note edit, a file create over an existing file and a write over the wrong
    hash write nothing, and no version."""
    sid = await new_session(store)
    note = await new_note(store, sid, "v1")
    await write(store, sid, "f", "1")
    with pytest.raises(HubError, match="conflict"):
        await edit_note(store, sid, note, "stale", 7)
    for expected in ("", "0" * 64):
        with pytest.raises(HubError, match="conflict"):
            await write(store, sid, "f", "x", expected)
    async with store.connection() as conn:
        assert len(await note_store.list_note_versions(conn, sid, note, before=None, limit=9)) == 1
        assert len(await file_store.list_file_versions(conn, sid, "f", before=None, limit=9)) == 1


async def test_versions_are_append_only(store: Store) -> None:
    """A note or file version can be neither changed nor deleted."""
    sid = await new_session(store)
    await new_note(store, sid, "v1")
    await write(store, sid, "f", "1")
    async with store.connection() as conn:
        for statement in (
            "UPDATE note_versions SET content = 'x' WHERE session_id = $1",
            "DELETE FROM note_versions WHERE session_id = $1",
            "UPDATE file_versions SET content = 'x' WHERE session_id = $1",
            "DELETE FROM file_versions WHERE session_id = $1",
        ):
            with pytest.raises(asyncpg.PostgresError):
                await conn.execute(statement, sid)


async def test_unknown_notes_files_and_versions_are_not_found(store: Store) -> None:
    """Another session's note, a missing version, a missing file: `not_found`."""
    sid = await new_session(store)
    other = await new_session(store)
    note = await new_note(store, other, "theirs")
    await write(store, sid, "f", "1")
    async with store.connection() as conn:
        for read in (
            note_store.list_note_versions(conn, sid, note, before=None, limit=5),
            note_store.get_note_version(conn, sid, note, 1),
            note_store.get_note_version(conn, other, note, 2),
            file_store.list_file_versions(conn, sid, "g", before=None, limit=5),
            file_store.get_file_version(conn, sid, "f", 2),
        ):
            with pytest.raises(HubError) as caught:
                await read
            assert caught.value.code == "not_found"


def test_text_diff_is_a_unified_diff_of_lines() -> None:
    """The diff names both sides and marks removed and added lines."""
    lines = text_diff("a\nb\nc\n", "a\nB\nc\n", old_name="v1", new_name="v2")
    assert lines == ["--- v1", "+++ v2", "@@ -1,3 +1,3 @@", " a", "-b", "+B", " c"]
    assert text_diff("same", "same", old_name="v1", new_name="v2") == []


async def test_the_migration_keeps_what_was_there_as_one_version_each(database_url: str) -> None:
    """Notes and files written before version history existed each get one version, their
    current state, at their session's last message."""
    from tests.store.test_migrate import _fresh_database

    name = f"hub_versions_backfill_{secrets.token_hex(4)}"
    url = await _fresh_database(database_url, name)
    try:
        await _backfill_checks(url)
    finally:
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _backfill_checks(url: str) -> None:
    from hub.store.migrate import apply_migrations
    from tests.store.test_migrate import schema_before

    conn = await asyncpg.connect(url)
    try:
        await schema_before(conn, 12)
        await conn.execute(
            """INSERT INTO sessions (id, name, agent_a_id, invite_code, invite_expires_at,
                   last_message_id)
               VALUES ('ses_backfill1', 'Old', 'a', 'OLD-CODE', now(), 7)"""
        )
        await conn.execute(
            """INSERT INTO notes (session_id, title, content, version, last_editor)
               VALUES ('ses_backfill1', 'Plan', 'third draft', 3, 'b')"""
        )
        await conn.execute(
            """INSERT INTO files (session_id, path, content, content_hash, size, last_editor)
               VALUES ('ses_backfill1', 'a.txt', 'x', $1, 1, 'a')""",
            "0" * 64,
        )
    finally:
        await conn.close()
    assert 12 in await apply_migrations(url)
    conn = await asyncpg.connect(url)
    try:
        notes = await note_store.notes_at(conn, "ses_backfill1", 7)
        assert [(v.version, v.content, v.editor, v.at_message_id) for v in notes] == [
            (3, "third draft", "b", 7)
        ]
        assert await note_store.notes_at(conn, "ses_backfill1", 6) == []
        files = await file_store.files_at(conn, "ses_backfill1", 7)
        assert [(v.path, v.version, v.content, v.at_message_id) for v in files] == [
            ("a.txt", 1, "x", 7)
        ]
        assert (await file_store.get_file(conn, "ses_backfill1", "a.txt")).version == 1
    finally:
        await conn.close()
