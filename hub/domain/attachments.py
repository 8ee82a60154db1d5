"""Attachments: binary content uploaded to a session, kept once per session by its SHA-256
and named by id on messages. The pure rules: ids, names, declared MIME types, what a
download is served as (an allow-list, never what the bytes look like), and thumbnails
of raster images, decoded under a pixel limit against decompression bombs."""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import datetime
from typing import IO, Annotated, Final
from urllib.parse import quote

import msgspec
from nanoid import generate as nanoid
from PIL import Image

from hub.errors import HubError

__all__ = [
    "ATTACHMENT_ID_PATTERN",
    "DOWNLOAD_CSP",
    "MAX_ATTACHMENTS_PER_MESSAGE",
    "MAX_THUMBNAIL_PIXELS",
    "RASTER_TYPES",
    "SERVED_TYPES",
    "THUMBNAIL_EDGE",
    "Attachment",
    "AttachmentId",
    "content_disposition",
    "make_thumbnail",
    "new_attachment_id",
    "parse_content_type",
    "served_type",
    "unique_ids",
    "validate_name",
]

ATTACHMENT_ID_PATTERN = r"^att_[A-Za-z0-9_-]{21}$"
AttachmentId = Annotated[str, msgspec.Meta(pattern=ATTACHMENT_ID_PATTERN)]
MAX_ATTACHMENTS_PER_MESSAGE = 32


class Attachment(msgspec.Struct, kw_only=True):
    """An upload: its bytes are the session's blob `sha256` (shared by every upload of
    the same bytes to the session)."""

    id: str
    session_id: str
    name: str
    content_type: str
    """The MIME type the uploader declared (downloads are served as `served_type` of it)."""
    size: int
    sha256: str
    uploader: str
    uploader_role: str
    thumbnail: bool
    """Whether a thumbnail exists: the upload decoded as the raster image it declared."""
    created_at: datetime


def new_attachment_id() -> str:
    return "att_" + str(nanoid(size=21))


def unique_ids(ids: list[str]) -> list[str]:
    """The ids in their first order, each once."""
    return list(dict.fromkeys(ids))


_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Control (C0 and C1), format (bidi overrides, zero-width), surrogate, private-use and
unassigned characters, and line/paragraph separators: none belongs in a name that
terminals and pages show."""


def validate_name(name: str | None) -> str:
    """An attachment's file name: its last path segment, 1-255 characters, nothing
    unprintable (`attachment` when none is given)."""
    if not name:
        return "attachment"
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if (
        not name
        or name in (".", "..")
        or len(name) > 255
        or any(unicodedata.category(c) in _UNPRINTABLE for c in name)
    ):
        raise HubError("bad_request", "an attachment's name is 1-255 characters, no controls")
    return name


_TOKEN = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
_MIME = re.compile(rf"^{_TOKEN}/{_TOKEN}$")


def parse_content_type(header: str | None) -> str:
    """The declared MIME type (`type/subtype`, lower case, parameters dropped);
    `application/octet-stream` when none is declared."""
    if not header or not header.strip():
        return "application/octet-stream"
    mime = header.split(";", 1)[0].strip().lower()
    if not _MIME.match(mime):
        raise HubError("bad_request", f"not a MIME type: {header[:100]!r}")
    return mime


RASTER_TYPES: Final[dict[str, str]] = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
"""Raster images a browser may show inline (and Pillow's name of each format). SVG is
not one: it is a document that can run script."""

SERVED_TYPES: Final[frozenset[str]] = frozenset(
    {
        *RASTER_TYPES,
        "image/svg+xml",
        "application/pdf",
        "application/json",
        "application/zip",
        "application/gzip",
        "application/x-tar",
        "text/plain",
        "text/csv",
        "text/markdown",
        "chemical/x-pdb",
        "chemical/x-mmcif",
        "audio/mpeg",
        "audio/wav",
        "video/mp4",
        "video/webm",
    }
)
"""Declared types a download is served as; any other is served as
`application/octet-stream` (HTML among them)."""

DOWNLOAD_CSP = "sandbox; default-src 'none'"
"""The Content-Security-Policy of every download: opened in the hub's origin, a document
still runs no script and loads nothing."""


def served_type(declared: str) -> str:
    return declared if declared in SERVED_TYPES else "application/octet-stream"


def content_disposition(attachment: Attachment) -> str:
    """`inline` for a raster image that decoded as what it declared (it has a thumbnail),
    `attachment` for anything else; the name as plain ASCII and as RFC 5987 UTF-8."""
    inline = attachment.thumbnail and attachment.content_type in RASTER_TYPES
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", attachment.name) or "attachment"
    encoded = quote(attachment.name, safe="")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


MAX_THUMBNAIL_PIXELS = 16_777_216
"""Images with more pixels (width x height, read from the header before any pixel is
decoded) get no thumbnail: 4096 x 4096, at most 64 MiB decoded."""
THUMBNAIL_EDGE = 320
"""A thumbnail's longer side, in pixels."""

# Pillow's own bomb check warns past its limit and raises past twice it; ours, lower,
# is checked first, so Pillow's is not needed (and its warning never fires).
Image.MAX_IMAGE_PIXELS = None


def make_thumbnail(source: IO[bytes], content_type: str) -> bytes | None:
    """A PNG thumbnail of a raster image (its first frame), or None: not a raster type,
    not decodable as the type it declares, or more than `MAX_THUMBNAIL_PIXELS`. Blocking:
    run it off the event loop."""
    fmt = RASTER_TYPES.get(content_type)
    if fmt is None:
        return None
    try:
        with Image.open(source, formats=[fmt]) as image:
            width, height = image.size
            if width < 1 or height < 1 or width * height > MAX_THUMBNAIL_PIXELS:
                return None
            image.draft("RGB", (THUMBNAIL_EDGE, THUMBNAIL_EDGE))  # JPEG: decode smaller
            image.seek(0)
            frame = image.convert("RGBA")
            frame.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
            out = io.BytesIO()
            frame.save(out, format="PNG", optimize=True)
            return out.getvalue()
    except Exception:  # hostile bytes fail in many ways; each means: no thumbnail
        return None
