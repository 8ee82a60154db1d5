"""The `hub note …` and `hub file …` commands: a session's notes and files as they stand,
and every version each went through (list, read one, diff two), with a session token."""

from __future__ import annotations

from datetime import datetime

from hub.client import HubAPI
from hub.commands import out

__all__ = ["file_command", "note_command"]


def _when(at: datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _body(text: str) -> None:
    for line in text.splitlines() or [""]:
        out(line)


async def note_command(
    url: str,
    token: str,
    session_id: str,
    action: str,
    note_id: int | None = None,
    version: int | None = None,
    versions: tuple[int, int] | None = None,
) -> int:
    """`hub note list|show|history|diff SESSION [NOTE] …`."""
    async with HubAPI(url) as rest:
        if action == "list":
            notes = await rest.notes(session_id, token)
            if not notes:
                out("no notes yet")
            for n in notes:
                out(f"#{n.id}  v{n.version}  {n.title}  ({n.last_editor}, {_when(n.updated_at)})")
            return 0
        assert note_id is not None
        if action == "show":
            if version is None:
                note = await rest.note(session_id, token, note_id)
                out(f"# {note.title}  (v{note.version}, {note.last_editor})")
                _body(note.content)
            else:
                old = await rest.note_version(session_id, token, note_id, version)
                after = f"after message #{old.at_message_id}"
                out(f"# {old.title}  (v{old.version}, {old.editor}, {after})")
                _body(old.content)
            return 0
        if action == "history":
            before: int | None = None
            while True:
                page = await rest.note_versions(session_id, token, note_id, before=before)
                for v in page.versions:
                    out(
                        f"v{v.version}  {_when(v.created_at)}  {v.editor}  after #{v.at_message_id}"
                        f"  {v.size} chars  {v.title}"
                    )
                if page.next_before is None:
                    return 0
                before = page.next_before
        assert versions is not None
        diff = await rest.note_diff(session_id, token, note_id, *versions)
        if diff.title is not None:
            out(f"title: {diff.title.from_!r} -> {diff.title.to!r}")
        for line in diff.diff:
            out(line)
        if not diff.diff and diff.title is None:
            out(f"no change from v{diff.from_} to v{diff.to}")
        return 0


async def file_command(
    url: str,
    token: str,
    session_id: str,
    action: str,
    path: str | None = None,
    version: int | None = None,
    versions: tuple[int, int] | None = None,
) -> int:
    """`hub file list|show|history|diff SESSION [PATH] …`."""
    async with HubAPI(url) as rest:
        if action == "list":
            files = await rest.files(session_id, token)
            if not files:
                out("no files yet")
            for f in files:
                by = f"{f.last_editor}, {_when(f.updated_at)}"
                out(f"{f.path}  v{f.version}  {f.size} bytes  ({by})")
            return 0
        assert path is not None
        if action == "show":
            if version is None:
                _body((await rest.read_file(session_id, token, path)).content)
            else:
                _body((await rest.file_version(session_id, token, path, version)).content)
            return 0
        if action == "history":
            before: int | None = None
            while True:
                page = await rest.file_versions(session_id, token, path, before=before)
                for v in page.versions:
                    out(
                        f"v{v.version}  {_when(v.created_at)}  {v.editor}  after #{v.at_message_id}"
                        f"  {v.size} bytes  sha256 {v.content_hash[:12]}"
                    )
                if page.next_before is None:
                    return 0
                before = page.next_before
        assert versions is not None
        diff = await rest.file_diff(session_id, token, path, *versions)
        for line in diff.diff:
            out(line)
        if not diff.diff:
            out(f"no change from v{diff.from_} to v{diff.to}")
        return 0
