"""REST bodies of attachments. An upload's body is the content itself (raw, with its
`Content-Type`, or the first file of a `multipart/form-data` body), not JSON."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.domain import Attachment, AttachmentId

__all__ = ["AttachmentList", "AttachmentQuery", "UploadQuery"]


class UploadQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """Query of a raw upload: the file name (a multipart part's own name wins)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None


class AttachmentQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """A page of the session's attachments, oldest first: the first `limit` after the
    attachment `after`."""

    after: AttachmentId | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 100


class AttachmentList(msgspec.Struct, kw_only=True):
    attachments: list[Attachment]
    next_after: str | None
    """Pass as `after` for the next page; null when this page is the last."""
