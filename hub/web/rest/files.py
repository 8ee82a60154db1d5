"""REST routes of files: list, read, and write whole."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.domain import FileEntry
from hub.web.http import body, hub_of, json_response, principal
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
FILE = SESSION + r"/files/{path:[\s\S]+}"


@routes.get(SESSION + "/files", "List files (without content)", response=api.FileList)
async def list_files(request: web.Request) -> web.Response:
    files = await hub_of(request).files.list(await principal(request))
    return json_response(api.FileList(files=files))


@routes.get(FILE, "Read a file", response=FileEntry, errors=("not_found",))
async def get_file(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await hub_of(request).files.get(who, request.match_info["path"]))


@routes.put(
    FILE,
    "Write a file (agents)",
    response=FileEntry,
    body=api.FileBody,
    errors=("conflict", "session_completed"),
)
async def put_file(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, api.FileBody)
    entry = await hub_of(request).files.write(
        who, request.match_info["path"], req.content, expected_hash=req.expected_hash
    )
    return json_response(entry)
