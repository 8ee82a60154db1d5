"""REST routes of artifacts: create (on a message of the session, or with a new one),
read, the gallery (newest first, a kind filter, keyset paginated), update at a version,
and an artifact's versions."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.api.notes import MAX_VERSION
from hub.domain import Artifact, ArtifactVersion
from hub.errors import HubError
from hub.web.http import body, hub_of, json_response, parse_id, principal, query
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
ARTIFACTS = SESSION + "/artifacts"
ARTIFACT = ARTIFACTS + "/{artifact_id}"


@routes.post(
    ARTIFACTS,
    "Create an artifact (agents): a typed result (`data`, tagged by `kind`: canvas3d,"
    " pipeline, table, image, json) on a message of the session (`message_id`) or on a"
    " new message (`message`, sent first; a retry returns the first artifact, 200)",
    response=Artifact,
    status=201,
    body=api.NewArtifact,
    errors=("session_completed",),
    also=((200, "a retry of a create with `message`: the artifact made then", Artifact),),
)
async def create_artifact(request: web.Request) -> web.Response:
    who = await principal(request)
    new = await body(request, api.NewArtifact)
    artifact, retry = await hub_of(request).artifacts.create(who, new)
    return json_response(artifact, 200 if retry else 201)


@routes.get(
    ARTIFACTS,
    "The gallery: the session's artifacts newest first, of one `kind` (or one message) if"
    " given (keyset paginated by `before`)",
    response=api.ArtifactList,
    query=api.ArtifactQuery,
)
async def list_artifacts(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.ArtifactQuery)
    return json_response(await hub_of(request).artifacts.list(who, q))


def _artifact_id(request: web.Request) -> int:
    raw = request.match_info["artifact_id"]
    artifact_id = parse_id(raw)
    if artifact_id is None:
        raise HubError("not_found", f"no artifact {raw[:32]!r}")
    return artifact_id


@routes.get(ARTIFACT, "Read an artifact", response=Artifact, errors=("not_found",))
async def get_artifact(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await hub_of(request).artifacts.get(who, _artifact_id(request)))


@routes.put(
    ARTIFACT,
    "Update an artifact at expected_version (agents; its kind stays): a stale version"
    " gets conflict carrying the current artifact",
    response=Artifact,
    body=api.ArtifactUpdate,
    errors=("not_found", "conflict", "session_completed"),
)
async def put_artifact(request: web.Request) -> web.Response:
    who = await principal(request)
    change = await body(request, api.ArtifactUpdate)
    updated = await hub_of(request).artifacts.update(who, _artifact_id(request), change)
    return json_response(updated)


@routes.get(
    ARTIFACT + "/versions",
    "An artifact's versions, newest first, without data (keyset paginated)",
    response=api.ArtifactVersionPage,
    query=api.VersionQuery,
    errors=("not_found",),
)
async def list_artifact_versions(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.VersionQuery)
    found = await hub_of(request).artifacts.versions(who, _artifact_id(request), q)
    return json_response(found)


@routes.get(
    ARTIFACT + "/versions/{version}",
    "One version of an artifact, with its data",
    response=ArtifactVersion,
    errors=("not_found",),
)
async def get_artifact_version(request: web.Request) -> web.Response:
    who = await principal(request)
    raw = request.match_info["version"]
    version = parse_id(raw)
    if version is None or not 1 <= version <= MAX_VERSION:
        raise HubError("not_found", f"no version {raw[:32]!r}")
    found = await hub_of(request).artifacts.version(who, _artifact_id(request), version)
    return json_response(found)
