"""REST bodies of files."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.domain import MAX_FILE_CHARS, FileInfo


class FileList(msgspec.Struct, kw_only=True):
    files: list[FileInfo]


class FileBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of PUT /files/{path}: the content, and optionally the hash it must replace
    (`""`: the file must not exist yet)."""

    content: Annotated[str, msgspec.Meta(max_length=MAX_FILE_CHARS)]
    expected_hash: Annotated[str, msgspec.Meta(max_length=64)] | None = None
