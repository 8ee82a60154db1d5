"""REST routes of files: list, read, and write whole; a file's history: list its
versions, read one, compare two. The history's routes are apart from `/files/{path}`
(`/file-versions/{path}`, `/file-version/{version}/{path}`, `/file-diff/{path}`), so no
file path, "versions" or "a/versions" included, can be mistaken for one of them."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.api.notes import MAX_VERSION
from hub.domain import FileEntry, FileVersion
from hub.errors import HubError
from hub.web.http import body, hub_of, json_response, parse_id, principal, query
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
PATH = r"{path:[\s\S]+}"
FILE = SESSION + "/files/" + PATH


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


@routes.get(
    SESSION + "/file-versions/" + PATH,
    "A file's versions, newest first, without content (keyset paginated)",
    response=api.FileVersionPage,
    query=api.VersionQuery,
    errors=("not_found",),
)
async def list_file_versions(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.VersionQuery)
    return json_response(await hub_of(request).files.versions(who, request.match_info["path"], q))


def _version(request: web.Request) -> int:
    raw = request.match_info["version"]
    version = parse_id(raw)
    if version is None or not 1 <= version <= MAX_VERSION:
        raise HubError("not_found", f"no version {raw[:32]!r}")
    return version


@routes.get(
    SESSION + "/file-version/{version}/" + PATH,
    "One version of a file, with its content",
    response=FileVersion,
    errors=("not_found",),
)
async def get_file_version(request: web.Request) -> web.Response:
    who = await principal(request)
    path = request.match_info["path"]
    return json_response(await hub_of(request).files.version(who, path, _version(request)))


@routes.get(
    SESSION + "/file-diff/" + PATH,
    "What changed between two versions of a file: a unified diff",
    response=api.FileDiff,
    query=api.VersionDiffQuery,
    errors=("not_found",),
)
async def diff_file(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.VersionDiffQuery)
    found = await hub_of(request).files.diff(who, request.match_info["path"], q.from_, q.to)
    return json_response(found)
