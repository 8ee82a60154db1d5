"""REST bodies of session templates: create, edit (a new version at the version read),
list, their versions, and archiving."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from hub.domain import Blueprint, Slug, TemplateSummary, TemplateVersionInfo
from hub.domain.spaces import SPACE_REF_PATTERN

__all__ = [
    "MAX_TEMPLATE_VERSION",
    "NewTemplate",
    "TemplateArchived",
    "TemplateEdit",
    "TemplatePage",
    "TemplateQuery",
    "TemplateVersionPage",
]

MAX_TEMPLATE_VERSION = 2**31 - 1


class NewTemplate(Blueprint, kw_only=True, forbid_unknown_fields=True):
    """A template at version 1: its slug and owner, whether it is public, and its
    content."""

    slug: Slug
    """Unique among its owner's templates, whatever its case."""
    space: Annotated[str, msgspec.Meta(pattern=SPACE_REF_PATTERN)] | None = None
    """The space (slug or `spc_` id) that owns it, if you are an owner or member of it;
    unset: you own it."""
    public: bool = False
    """Anyone may read it and create sessions from it."""


class TemplateEdit(Blueprint, kw_only=True, forbid_unknown_fields=True):
    """Version N+1 of a template: its whole content (what is unset takes its default,
    not the last version's), written only if the template is still at
    `expected_version` N."""

    expected_version: Annotated[int, msgspec.Meta(ge=1, le=MAX_TEMPLATE_VERSION)]
    """The version this edit is based on; another one gets `conflict` with the current."""
    public: bool | None = None
    """Unset: as it was."""


class TemplateArchived(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    archived: bool
    """True archives the template (read-only; no new sessions from it); False takes it
    out of the archive."""


class TemplateQuery(msgspec.Struct, forbid_unknown_fields=False):
    """Query of GET /api/templates."""

    scope: Literal["mine", "space", "public"] = "mine"
    """`mine`: your own; `space`: the `space`'s (any member); `public`: everyone's public
    ones (never archived ones)."""
    space: (
        Annotated[
            str,
            msgspec.Meta(pattern=SPACE_REF_PATTERN, description="with scope=space: its slug or id"),
        ]
        | None
    ) = None
    archived: Annotated[bool, msgspec.Meta(description="list archived ones only")] = False
    limit: Annotated[int, msgspec.Meta(ge=1, le=100, description="at most this many")] = 20
    cursor: (
        Annotated[str, msgspec.Meta(max_length=128, description="`next` of the page before")] | None
    ) = None


class TemplatePage(msgspec.Struct, kw_only=True):
    templates: list[TemplateSummary]
    """Newest first."""
    next: str | None
    """The cursor of the next page (None: this was the last)."""


class TemplateVersionPage(msgspec.Struct, kw_only=True):
    versions: list[TemplateVersionInfo]
    """Newest first, without content (read one with …/versions/{version})."""
    next_before: int | None
    """Pass as `before` for the next (older) page; null when this page is the last."""
