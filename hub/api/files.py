"""REST bodies of files and their history (queried with `VersionQuery` and
`VersionDiffQuery`, as notes' history)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.domain import MAX_FILE_CHARS, FileInfo, FileVersionInfo


class FileList(msgspec.Struct, kw_only=True):
    files: list[FileInfo]


class FileBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of PUT /files/{path}: the content, and optionally the hash it must replace
    (`""`: the file must not exist yet)."""

    content: Annotated[str, msgspec.Meta(max_length=MAX_FILE_CHARS)]
    expected_hash: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class FileVersionPage(msgspec.Struct, kw_only=True):
    versions: list[FileVersionInfo]
    """Newest first, without content (read one with …/file-version/{version}/{path})."""
    next_before: int | None
    """Pass as `before` for the next (older) page; null when this page is the last."""


class FileDiff(msgspec.Struct, kw_only=True):
    """What changed from version `from` to version `to` of a file."""

    path: str
    from_: int = msgspec.field(name="from")
    to: int
    diff: list[str]
    """A unified diff of the content (difflib, 3 lines of context), one line per item,
    without line ends; empty when the content's lines did not change."""
