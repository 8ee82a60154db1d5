"""REST routes of attachments: upload (streamed), list, metadata, download (streamed)
and thumbnail.

A download is served as the allow-listed type its uploader declared (anything else as
`application/octet-stream`), inline only for a raster image that decoded as one,
`attachment` otherwise (SVG and HTML included), with `nosniff` and a sandboxing CSP:
opened in the hub's origin, an uploaded document runs no script and loads nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from hub import api
from hub.domain import Attachment, Principal
from hub.domain.attachments import DOWNLOAD_CSP, content_disposition, served_type
from hub.errors import HubError
from hub.services.attachments import UploadGuard
from hub.web.http import hub_of, json_response, principal, query
from hub.web.logs import logged_path, unexpected
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["receive_upload", "routes", "send_download"]

log = logging.getLogger("hub.web")

routes = RouteTable()
ATTACHMENTS = SESSION + "/attachments"
ATTACHMENT = ATTACHMENTS + "/{attachment_id}"
_READ_BYTES = 1 << 16

_DOWNLOAD_HEADERS = {
    "Content-Security-Policy": DOWNLOAD_CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=86400, immutable",
}


@routes.post(
    ATTACHMENTS,
    "Upload an attachment (agents), streamed: the raw body with its MIME type in"
    " Content-Type (and `name`), or multipart/form-data (its first file part). The same"
    " bytes are stored once per session; each upload gets its own id",
    response=Attachment,
    status=201,
    query=api.UploadQuery,
    raw_body=True,
    errors=("quota_exceeded", "session_completed", "rate_limited"),
)
async def upload(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.UploadQuery)
    return json_response(await receive_upload(request, who, q.name), 201)


async def receive_upload(
    request: web.Request, who: Principal, name: str | None, guard: UploadGuard | None = None
) -> Attachment:
    """Store the request's body as an upload by `who` to its session (the raw body with
    its Content-Type, or the first file part of a multipart body), streamed, with the
    session upload's limits; `guard` runs in its transaction."""
    attachments = hub_of(request).attachments
    if request.content_type == "multipart/form-data":
        # the file part is at most the limit; the rest of the body, its framing and
        # other parts, at most _MULTIPART_SLACK
        declared = request.content_length
        attachments.check_upload(
            who, None if declared is None else max(0, declared - _MULTIPART_SLACK)
        )
        part = await _first_file(request)
        return await attachments.upload(
            who,
            _part_chunks(part),
            name=part.filename or name,
            content_type=part.headers.get("Content-Type"),
            guard=guard,
        )
    attachments.check_upload(who, request.content_length)
    return await attachments.upload(
        who,
        request.content.iter_chunked(_READ_BYTES),
        name=name,
        content_type=request.headers.get("Content-Type"),
        length=request.content_length,
        guard=guard,
    )


async def _first_file(request: web.Request) -> BodyPartReader:
    """The first part of a multipart body that is a file (has a filename)."""
    skipped = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.filename is not None:
                return part
            if isinstance(part, BodyPartReader):  # skipped, within the slack
                while chunk := await part.read_chunk():
                    skipped += len(chunk)
                    if skipped > _MULTIPART_SLACK:
                        raise HubError(
                            "payload_too_large",
                            f"parts before the file may hold at most {_MULTIPART_SLACK} bytes",
                        )
    except _MALFORMED:
        raise _malformed() from None
    raise HubError("bad_request", "the multipart body has no file part")


_MULTIPART_SLACK = 64 * 1024
"""What a multipart upload's body may hold besides its file: boundaries, headers and
other (skipped) parts."""

_MALFORMED = (ValueError, HttpProcessingError)
"""What aiohttp's multipart reader raises on a malformed body."""


def _malformed() -> HubError:
    return HubError("bad_request", "malformed multipart/form-data body")


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while True:
        try:
            chunk = await part.read_chunk(_READ_BYTES)
        except _MALFORMED:
            raise _malformed() from None
        if not chunk:
            return
        yield chunk


@routes.get(
    ATTACHMENTS,
    "List the session's attachments, oldest first (keyset paginated by `after`)",
    response=api.AttachmentList,
    query=api.AttachmentQuery,
)
async def list_attachments(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.AttachmentQuery)
    return json_response(await hub_of(request).attachments.list(who, q))


@routes.get(ATTACHMENT, "An attachment's metadata", response=Attachment, errors=("not_found",))
async def get_attachment(request: web.Request) -> web.Response:
    who = await principal(request)
    found = await hub_of(request).attachments.get(who, request.match_info["attachment_id"])
    return json_response(found)


@routes.get(
    ATTACHMENT + "/content",
    "Download an attachment, streamed: Content-Type from an allow-list (else"
    " application/octet-stream), Content-Disposition inline only for a raster image that"
    " decoded as one, X-Content-Type-Options: nosniff, Content-Security-Policy: sandbox."
    " A failure after the answer started aborts the connection. A process streams at most"
    " 64 downloads at once (`HUB_ATTACHMENT_DOWNLOADS`): one more is 429",
    media=(("application/octet-stream", None),),
    errors=("not_found", "rate_limited"),
)
async def download(request: web.Request) -> web.StreamResponse:
    who = await principal(request)
    attachments = hub_of(request).attachments
    with attachments.downloading():
        return await send_download(request, who)


async def send_download(request: web.Request, who: Principal) -> web.StreamResponse:
    """Stream the attachment the path names to `who` (who may read its session), with
    the download headers; the caller holds a download slot (`downloading()`)."""
    found = await hub_of(request).attachments.download(who, request.match_info["attachment_id"])
    attachment = found.attachment
    response = web.StreamResponse(
        headers={
            **_DOWNLOAD_HEADERS,
            "Content-Type": served_type(attachment.content_type),
            "Content-Disposition": content_disposition(attachment),
            "ETag": f'"{attachment.sha256}"',
        }
    )
    response.content_length = attachment.size
    try:
        await response.prepare(request)
        async for chunk in found.chunks:
            await response.write(chunk)
    except Exception as exc:
        if not response.prepared:
            raise
        _cut_off(request, attachment, exc)
        return response
    await response.write_eof()
    return response


def _cut_off(request: web.Request, attachment: Attachment, exc: Exception) -> None:
    """End a download whose answer has started: log why, and abort the connection, so
    the reader sees a transfer cut short rather than a shorter file."""
    where = f"download of {attachment.id} ({logged_path(request.rel_url.raw_path)})"
    if isinstance(exc, ConnectionError):
        log.info("%s: the reader left", where)
    elif isinstance(exc, HubError):
        log.warning("%s cut off: %s", where, exc.message)
    else:
        unexpected.report(exc, where)
    if request.transport is not None:
        request.transport.abort()


@routes.get(
    ATTACHMENT + "/thumbnail",
    "A raster image attachment's thumbnail (PNG, at most 320 pixels a side); not_found"
    " if it has none (not a raster image, not decodable as one, or too many pixels)",
    media=(("image/png", None),),
    errors=("not_found",),
)
async def thumbnail(request: web.Request) -> web.Response:
    who = await principal(request)
    data = await hub_of(request).attachments.thumbnail(who, request.match_info["attachment_id"])
    return web.Response(
        body=data,
        headers={
            **_DOWNLOAD_HEADERS,
            "Content-Type": "image/png",
            "Content-Disposition": "inline",
        },
    )
