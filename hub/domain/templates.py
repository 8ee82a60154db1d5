"""Session templates: blueprints a session is created from.

A template's content (`Blueprint`) is a name and description, the session's default mode
and privacy, metadata, seed notes (title + Markdown) and seed files (path + text), and an
optional opening system message. Every edit makes version N+1, at the version the editor
read; history is never rewritten. A template belongs to a person or to a space, has a
slug unique per owner, and may be public.

Who may do what (`template_allows`): the owning person everything; a space's owners and
members manage and use its templates, its viewers read them; anyone reads and uses a
public one. To anyone else a template does not exist. Using one means an agent key's
owner may: a person's own agents, a space member's agents, or, for a public one, any
caller at all. An archived template is read-only and unusable; nothing is deleted.

A session created from a template takes, for mode and privacy, the value the request
sets, else the template's, else the hub's default (`session_settings`, the one place
that decides); its metadata is the template's, with the request's top-level keys
replacing the template's.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from nanoid import generate as nanoid

from hub.domain.files import MAX_FILE_CHARS, validate_path
from hub.domain.messages import MAX_CONTENT_CHARS
from hub.domain.metadata import check_metadata
from hub.domain.notes import MAX_NOTE_CHARS
from hub.domain.profiles import Description, ProfileName
from hub.domain.sessions import DEFAULT_IS_PRIVATE, DEFAULT_MODE, SessionMode
from hub.domain.spaces import SpaceRole, space_allows
from hub.errors import HubError

__all__ = [
    "MAX_SEED_CHARS",
    "MAX_SEED_FILES",
    "MAX_SEED_NOTES",
    "TEMPLATE_REF_PATTERN",
    "Blueprint",
    "SeedFile",
    "SeedNote",
    "Template",
    "TemplateAction",
    "TemplateRef",
    "TemplateSummary",
    "TemplateVersion",
    "TemplateVersionInfo",
    "blueprint_of",
    "new_template_id",
    "parse_template_ref",
    "session_settings",
    "template_allows",
]

MAX_SEED_NOTES = 32
MAX_SEED_FILES = 64
MAX_SEED_CHARS = 1_000_000
"""Characters of all seed notes' and files' content together (each is also held to the
limit of a note, 200,000, or of a file, 512,000)."""

_ID = r"tpl_[A-Za-z0-9_-]{21}"
_SLUG = r"[A-Za-z0-9][A-Za-z0-9_-]{2,47}"
_USERNAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]{2,31}"
_SPACE = rf"spc_[A-Za-z0-9_-]{{21}}|{_SLUG}"
TEMPLATE_REF_PATTERN = rf"^({_ID}|(space:({_SPACE})|{_USERNAME})/{_SLUG})$"
"""How a template is named: its id (`tpl_…`), `USERNAME/SLUG` (a person's) or
`space:SPACE/SLUG` (a space's, the space by slug or id)."""
_REF = re.compile(
    rf"^(?:(?P<id>{_ID})|(?:space:(?P<space>{_SPACE})|(?P<user>{_USERNAME}))/(?P<slug>{_SLUG}))$"
)

TemplateAction = Literal["read", "use", "edit"]
NoteTitle = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
FilePath = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
OpeningMessage = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_CHARS)]


def new_template_id() -> str:
    return "tpl_" + str(nanoid(size=21))


class TemplateRef(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed template reference: an id, or an owner (person or space) and a slug."""

    id: str | None = None
    username: str | None = None
    space: str | None = None
    slug: str | None = None


def parse_template_ref(ref: str) -> TemplateRef:
    """The parts of a template reference; `not_found` for one that names nothing."""
    found = _REF.match(ref)
    if found is None:
        raise HubError("not_found", f"no template {ref[:80]!r}")
    return TemplateRef(
        id=found["id"], username=found["user"], space=found["space"], slug=found["slug"]
    )


def template_allows(
    action: TemplateAction,
    *,
    public: bool,
    owner_is_caller: bool,
    space_role: SpaceRole | None,
) -> bool:
    """Whether a person may do `action` to a template: they own it (`owner_is_caller`,
    a person's template), or have `space_role` in the space owning it, or it is public
    (read and use only)."""
    if owner_is_caller:
        return True
    if action == "edit":
        return space_allows(space_role, "edit_templates")
    if action == "use":
        return public or space_allows(space_role, "create_session")
    return public or space_allows(space_role, "watch")


class SeedNote(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A note every session created from the template starts with."""

    title: NoteTitle
    content: Annotated[str, msgspec.Meta(max_length=MAX_NOTE_CHARS)] = ""


class SeedFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A file every session created from the template starts with."""

    path: FilePath
    """Relative, no `.`/`..` or empty segments, no control characters (as any file)."""
    content: Annotated[str, msgspec.Meta(max_length=MAX_FILE_CHARS)] = ""

    def __post_init__(self) -> None:
        try:
            validate_path(self.path)
        except HubError as exc:
            raise ValueError(exc.message) from None


class Blueprint(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a template version holds: what a session created from it starts with."""

    name: ProfileName
    description: Description = ""
    mode: SessionMode | None = None
    """The session's mode unless the request sets one (null: the hub's default)."""
    is_private: bool | None = None
    """The session's privacy unless the request sets it (null: the hub's default)."""
    metadata: dict[str, Any] = {}
    """The session's metadata; the request's top-level keys replace these."""
    notes: Annotated[list[SeedNote], msgspec.Meta(max_length=MAX_SEED_NOTES)] = []
    files: Annotated[list[SeedFile], msgspec.Meta(max_length=MAX_SEED_FILES)] = []
    opening_message: OpeningMessage | None = None
    """Posted as the session's first message (a `system` message, by `hub`)."""

    def __post_init__(self) -> None:
        check_metadata(self.metadata)
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("files: two seed files share a path")
        total = sum(len(n.content) for n in self.notes) + sum(len(f.content) for f in self.files)
        if total > MAX_SEED_CHARS:
            raise ValueError(f"seed notes and files hold more than {MAX_SEED_CHARS} characters")


def blueprint_of(value: Blueprint) -> Blueprint:
    """The `Blueprint` part of a request or a version that extends it."""
    return Blueprint(**{f: getattr(value, f) for f in Blueprint.__struct_fields__})


class Template(Blueprint, kw_only=True):
    """A template as its readers see it: who owns it, and its current version's content."""

    id: str
    slug: str
    ref: str
    """`USERNAME/SLUG` or `space:SPACE/SLUG`: how to name it beside its id."""
    owner: str | None
    """The owning person's username (null: a space owns it)."""
    space: str | None
    """The owning space's slug (null: a person owns it)."""
    public: bool
    version: int
    """The current version, which a session uses unless it names another."""
    author: str
    """Who wrote the current version (a username)."""
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TemplateSummary(msgspec.Struct, kw_only=True):
    """A template as listed: without its notes', files' and message's content."""

    id: str
    slug: str
    ref: str
    owner: str | None
    space: str | None
    name: str
    description: str
    public: bool
    version: int
    note_count: int
    file_count: int
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TemplateVersion(Blueprint, kw_only=True):
    """One version of a template, as it was written."""

    template_id: str
    version: int
    public: bool
    author: str
    created_at: datetime


class TemplateVersionInfo(msgspec.Struct, kw_only=True):
    """One version as listed, without its content."""

    template_id: str
    version: int
    name: str
    public: bool
    note_count: int
    file_count: int
    author: str
    created_at: datetime


def session_settings(
    mode: SessionMode | None,
    is_private: bool | None,
    metadata: dict[str, Any],
    template: Blueprint | None,
) -> tuple[SessionMode, bool, dict[str, Any]]:
    """A new session's mode, privacy and metadata: what the request sets (None: unset),
    else the template's, else the hub's default; the metadata is the template's with the
    request's top-level keys replacing its own. `bad_request` if the merged metadata is
    too large."""
    if template is None:
        return mode or DEFAULT_MODE, _first(is_private, DEFAULT_IS_PRIVATE), metadata
    merged = {**template.metadata, **metadata}
    try:
        check_metadata(merged)
    except ValueError as exc:
        raise HubError("bad_request", f"the template's and the request's {exc}") from None
    return (
        mode or template.mode or DEFAULT_MODE,
        _first(is_private, _first(template.is_private, DEFAULT_IS_PRIVATE)),
        merged,
    )


def _first(value: bool | None, otherwise: bool) -> bool:
    return otherwise if value is None else value
