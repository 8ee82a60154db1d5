"""REST route of a session's export, streamed as it is read.

Errors found before the first byte (a bad token, a deleted session, too many exports)
are answered as any route answers them. Once the answer has started, its status is
sent: a failure after that (the database lost, the export's time up) aborts the
connection, so the reader sees a transfer cut short (no final chunk), never a shorter
document that looks whole.
"""

from __future__ import annotations

import logging

from aiohttp import web

from hub import api
from hub.errors import HubError
from hub.web.http import hub_of, principal, query
from hub.web.logs import logged_path, unexpected
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

log = logging.getLogger("hub.web")

routes = RouteTable()


@routes.get(
    SESSION + "/export",
    "Export the session, streamed: `format=json` (everything: the session, participants,"
    " messages, notes and files with every version, activity) or `format=markdown` (a"
    " transcript); any token of the session. A failure after the answer started aborts"
    " the connection",
    response=api.SessionExport,
    query=api.ExportQuery,
    media=(("text/markdown", None),),
    errors=("session_not_found", "rate_limited"),
)
async def export_session(request: web.Request) -> web.StreamResponse:
    who = await principal(request)
    q = query(request, api.ExportQuery)
    response = web.StreamResponse(headers={"Cache-Control": "no-store"})
    try:
        async with hub_of(request).exports.open(who, q.format) as export:
            response.content_type = export.media_type
            response.charset = "utf-8"
            response.headers["Content-Disposition"] = f'attachment; filename="{export.file_name}"'
            response.enable_chunked_encoding()
            await response.prepare(request)
            async for chunk in export.chunks():
                await response.write(chunk)
    except Exception as exc:
        if not response.prepared:
            raise  # answered as any route answers it
        _cut_off(request, who.session_id, exc)
        return response
    await response.write_eof()
    return response


def _cut_off(request: web.Request, session_id: str, exc: Exception) -> None:
    """End an export whose answer has started: log why, and abort the connection (no
    final chunk), so the reader knows the document is cut short."""
    where = f"export of {session_id} ({logged_path(request.rel_url.raw_path)})"
    if isinstance(exc, ConnectionError):
        log.info("%s: the reader left", where)
    elif isinstance(exc, HubError):
        log.warning("%s cut off: %s", where, exc.message)
    else:
        unexpected.report(exc, where)
    if request.transport is not None:
        request.transport.abort()
