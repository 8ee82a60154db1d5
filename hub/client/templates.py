"""The REST API of session templates: blueprints (seed notes, files, an opening message,
default mode, privacy and metadata) a session is created from, versioned. Everything here
takes a user key (`usr_…`); a template is named by its id (`tpl_…`) or its reference
(`USERNAME/SLUG`, `space:SPACE/SLUG`). Create a session from one with
`HubAPI.create_session(template=…)`."""

from __future__ import annotations

import urllib.parse
from typing import Any, Literal

import msgspec

from hub import api
from hub.client.errors import HubClientError
from hub.client.transport import RestClient
from hub.domain import Template, TemplateVersion

__all__ = ["TemplatesAPI"]


def _template(ref: str, rest: str = "") -> str:
    return "/api/templates/" + urllib.parse.quote(ref, safe="") + rest


def _body(type_: type[Any], fields: dict[str, Any]) -> Any:
    """`fields` as the request body `type_`; what the hub would refuse raises
    `HubClientError` `bad_request` before sending."""
    try:
        return msgspec.convert(fields, type_)
    except (msgspec.ValidationError, ValueError) as exc:
        raise HubClientError("bad_request", str(exc)) from None


class TemplatesAPI(RestClient):
    async def create_template(self, user_key: str, slug: str, name: str, **fields: Any) -> Template:
        """A new template at version 1 (fields as `api.NewTemplate`: `space` for a
        space's, `public`, `notes`, `files`, `opening_message` …); `HubClientError`
        `conflict` if its owner has the slug."""
        body = _body(api.NewTemplate, {"slug": slug, "name": name, **fields})
        return await self._typed(Template, "POST", "/api/templates", token=user_key, body=body)

    async def templates(
        self,
        user_key: str,
        *,
        scope: Literal["mine", "space", "public"] = "mine",
        space: str | None = None,
        archived: bool = False,
        limit: int = 20,
        cursor: str | None = None,
    ) -> api.TemplatePage:
        """A page of templates, newest first: yours, the `space`'s, or the public ones;
        `.next` is the next page's cursor."""
        params = {
            "scope": scope,
            "space": space,
            "archived": "true" if archived else None,
            "limit": limit,
            "cursor": cursor,
        }
        return await self._typed(
            api.TemplatePage, "GET", "/api/templates", token=user_key, params=params
        )

    async def template(self, user_key: str, ref: str) -> Template:
        """The template with its current version's content."""
        return await self._typed(Template, "GET", _template(ref), token=user_key)

    async def edit_template(
        self, user_key: str, ref: str, expected_version: int, **content: Any
    ) -> Template:
        """Write the next version: the whole content (fields as `api.TemplateEdit`; what
        is left out takes its default, not the last version's), if the template is still
        at `expected_version`; otherwise `Conflict` carrying the current `template`."""
        body = _body(api.TemplateEdit, {**content, "expected_version": expected_version})
        return await self._typed(Template, "PUT", _template(ref), token=user_key, body=body)

    async def template_versions(
        self, user_key: str, ref: str, *, before: int | None = None, limit: int = 50
    ) -> api.TemplateVersionPage:
        """Versions newest first, without content; `.next_before` pages on."""
        return await self._typed(
            api.TemplateVersionPage,
            "GET",
            _template(ref, "/versions"),
            token=user_key,
            params={"before": before, "limit": limit},
        )

    async def template_version(self, user_key: str, ref: str, version: int) -> TemplateVersion:
        return await self._typed(
            TemplateVersion, "GET", _template(ref, f"/versions/{version}"), token=user_key
        )

    async def archive_template(self, user_key: str, ref: str, *, archived: bool = True) -> Template:
        """Archive the template (`archived=False`: take it out of the archive)."""
        body = api.TemplateArchived(archived=archived)
        return await self._typed(
            Template, "PUT", _template(ref, "/archived"), token=user_key, body=body
        )
