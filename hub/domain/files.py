"""Files: a session's text files by path, replaced whole, guarded by content hash."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

import msgspec

from hub.errors import HubError

__all__ = ["MAX_FILE_CHARS", "FileEntry", "FileInfo", "file_hash", "validate_path"]

MAX_FILE_CHARS = 512_000


class FileInfo(msgspec.Struct, kw_only=True):
    """A session file without its content."""

    session_id: str
    path: str
    content_hash: str
    size: int
    version: int
    """1 when created, one more on every write (GET …/file-versions/{path} lists them)."""
    last_editor: str
    created_at: datetime
    updated_at: datetime


class FileEntry(FileInfo, kw_only=True):
    """A session file with its content."""

    content: str


def file_hash(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


_PATH = re.compile(r"^(?!/)(?!.*//)(?!.*(^|/)\.\.?(/|$))[^\x00-\x1f\\]{1,512}$")


def validate_path(path: str) -> str:
    """A file path: relative, no `.`/`..` segments, no empty segments, no control chars."""
    if not _PATH.match(path) or path.endswith("/"):
        raise HubError("bad_request", f"invalid file path {path!r}")
    return path


# 128 words each (7 bits): with two groups of four digits, 128 x 128 x 10^8 ~ 1.6 x 10^12
