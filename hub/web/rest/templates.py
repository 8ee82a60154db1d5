"""REST routes of session templates (user key): create, list, read, edit at a version
(each edit a new version), the versions, and archiving. A template is named in the path
by its id (`tpl_…`) or its reference (`USERNAME/SLUG`, `space:SPACE/SLUG`, the slash
written %2F). To whoever may not read it, a template is `not_found`."""

from __future__ import annotations

import re

from aiohttp import web

from hub import api
from hub.api.templates import MAX_TEMPLATE_VERSION
from hub.domain import Template, TemplateVersion
from hub.domain.templates import TEMPLATE_REF_PATTERN
from hub.errors import HubError
from hub.web.http import body, hub_of, json_response, parse_id, query, user
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
TEMPLATE = "/api/templates/{template}"
_REF = re.compile(TEMPLATE_REF_PATTERN)


def template_of(request: web.Request) -> str:
    ref = request.match_info["template"]
    if not _REF.match(ref):
        raise HubError("not_found", f"no template {ref[:80]!r}")
    return ref


def _version(request: web.Request) -> int:
    raw = request.match_info["version"]
    version = parse_id(raw)
    if version is None or not 1 <= version <= MAX_TEMPLATE_VERSION:
        raise HubError("not_found", f"no version {raw[:32]!r} of this template")
    return version


@routes.post(
    "/api/templates",
    "Create a session template (version 1): yours, or a space's you are an owner or member of",
    response=Template,
    status=201,
    body=api.NewTemplate,
    errors=("bad_request", "not_found", "forbidden", "conflict"),
)
async def create_template(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.NewTemplate)
    return json_response(await hub_of(request).templates.create(who, req), 201)


@routes.get(
    "/api/templates",
    "Templates, newest first (keyset pages): yours, a space's (any member), or the public ones",
    response=api.TemplatePage,
    query=api.TemplateQuery,
    errors=("bad_request", "not_found"),
)
async def list_templates(request: web.Request) -> web.Response:
    who = await user(request)
    q = query(request, api.TemplateQuery)
    return json_response(await hub_of(request).templates.list(who, q))


@routes.get(
    TEMPLATE,
    "A template with its current version's content (by id or reference)",
    response=Template,
    errors=("not_found",),
)
async def get_template(request: web.Request) -> web.Response:
    who = await user(request)
    return json_response(await hub_of(request).templates.get(who, template_of(request)))


@routes.put(
    TEMPLATE,
    "Write the template's next version (its whole content) at `expected_version`; a"
    " stale one gets conflict carrying the current template",
    response=Template,
    body=api.TemplateEdit,
    errors=("bad_request", "not_found", "forbidden", "conflict"),
)
async def edit_template(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.TemplateEdit)
    return json_response(await hub_of(request).templates.revise(who, template_of(request), req))


@routes.get(
    TEMPLATE + "/versions",
    "The template's versions, newest first, without content (keyset: `before`)",
    response=api.TemplateVersionPage,
    query=api.VersionQuery,
    errors=("bad_request", "not_found"),
)
async def list_versions(request: web.Request) -> web.Response:
    who = await user(request)
    q = query(request, api.VersionQuery)
    return json_response(await hub_of(request).templates.versions(who, template_of(request), q))


@routes.get(
    TEMPLATE + "/versions/{version}",
    "One version of the template, with its content",
    response=TemplateVersion,
    errors=("not_found",),
)
async def get_version(request: web.Request) -> web.Response:
    who = await user(request)
    found = await hub_of(request).templates.version(who, template_of(request), _version(request))
    return json_response(found)


@routes.put(
    TEMPLATE + "/archived",
    "Archive the template (read-only, no new sessions from it) or take it out of the"
    " archive; nothing is deleted",
    response=Template,
    body=api.TemplateArchived,
    errors=("not_found", "forbidden"),
)
async def archive_template(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.TemplateArchived)
    template = await hub_of(request).templates.set_archived(who, template_of(request), req.archived)
    return json_response(template)
