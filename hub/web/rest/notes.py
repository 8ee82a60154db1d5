"""REST routes of notes: list, read, create, and edit at a version; a note's history:
list its versions, read one, compare two."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.api.notes import MAX_VERSION
from hub.domain import Note, NoteVersion
from hub.errors import HubError
from hub.protocol import UpdateNote
from hub.web.http import body, hub_of, json_response, parse_id, principal, query
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()


@routes.get(SESSION + "/notes", "List notes", response=api.NoteList)
async def list_notes(request: web.Request) -> web.Response:
    notes = await hub_of(request).notes.list(await principal(request))
    return json_response(api.NoteList(notes=notes))


@routes.post(
    SESSION + "/notes",
    "Create a note (expected_version 0)",
    response=Note,
    status=201,
    body=UpdateNote,
    errors=("session_completed",),
)
async def create_note(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, UpdateNote)
    if req.note_id is not None:
        raise HubError("bad_request", "to edit a note, PUT /notes/{note_id}")
    note = await hub_of(request).notes.save(
        who,
        note_id=None,
        title=req.title,
        content=req.content,
        expected_version=req.expected_version,
    )
    return json_response(note, 201)


def _note_id(request: web.Request) -> int:
    raw = request.match_info["note_id"]
    note_id = parse_id(raw)
    if note_id is None:
        raise HubError("not_found", f"no note {raw[:32]!r}")
    return note_id


@routes.get(SESSION + "/notes/{note_id}", "Read a note", response=Note, errors=("not_found",))
async def get_note(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await hub_of(request).notes.get(who, _note_id(request)))


@routes.put(
    SESSION + "/notes/{note_id}",
    "Edit a note at expected_version",
    response=Note,
    body=UpdateNote,
    errors=("not_found", "conflict", "session_completed"),
)
async def put_note(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, UpdateNote)
    note = await hub_of(request).notes.save(
        who,
        note_id=_note_id(request),
        title=req.title,
        content=req.content,
        expected_version=req.expected_version,
    )
    return json_response(note)


def _version(request: web.Request) -> int:
    raw = request.match_info["version"]
    version = parse_id(raw)
    if version is None or not 1 <= version <= MAX_VERSION:
        raise HubError("not_found", f"no version {raw[:32]!r}")
    return version


@routes.get(
    SESSION + "/notes/{note_id}/versions",
    "A note's versions, newest first, without content (keyset paginated)",
    response=api.NoteVersionPage,
    query=api.VersionQuery,
    errors=("not_found",),
)
async def list_note_versions(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.VersionQuery)
    return json_response(await hub_of(request).notes.versions(who, _note_id(request), q))


@routes.get(
    SESSION + "/notes/{note_id}/versions/{version}",
    "One version of a note, with its content",
    response=NoteVersion,
    errors=("not_found",),
)
async def get_note_version(request: web.Request) -> web.Response:
    who = await principal(request)
    found = await hub_of(request).notes.version(who, _note_id(request), _version(request))
    return json_response(found)


@routes.get(
    SESSION + "/notes/{note_id}/diff",
    "What changed between two versions of a note: the title, and a unified diff",
    response=api.NoteDiff,
    query=api.VersionDiffQuery,
    errors=("not_found",),
)
async def diff_note(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.VersionDiffQuery)
    return json_response(await hub_of(request).notes.diff(who, _note_id(request), q.from_, q.to))
