"""REST bodies of agent profiles: the profile, its agent keys and its configuration."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from hub.domain import (
    AgentKey,
    AgentProfile,
    ConfigRevision,
    KeyName,
    Skill,
    Slug,
    Visibility,
    check_config,
)
from hub.domain.profiles import (
    AvatarUrl,
    Description,
    PathChange,
    PathValue,
    ProfileName,
    check_config_schema,
)

__all__ = [
    "MAX_REVISION",
    "AgentKeyList",
    "ConfigDiffQuery",
    "ConfigSchema",
    "ConfigUpdate",
    "CreatedAgentKey",
    "NewAgentKey",
    "NewProfile",
    "ProfileList",
    "ProfileUpdate",
    "RevisionDiff",
    "RevisionPage",
    "RevisionQuery",
    "Rollback",
    "SetConfigSchema",
]

MAX_REVISION = 2**31 - 1
Revision = Annotated[int, msgspec.Meta(ge=1, le=MAX_REVISION)]
ExpectedRevision = Annotated[int, msgspec.Meta(ge=0, le=MAX_REVISION)]


class NewProfile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    slug: Slug
    """The agent's participant id in the sessions it enters with one of its keys."""
    name: ProfileName
    description: Description = ""
    skills: Annotated[list[Skill], msgspec.Meta(max_length=64)] = []
    visibility: Visibility = "unlisted"
    avatar_url: AvatarUrl | None = None
    config: dict[str, Any] = {}
    """Configuration revision 1 (model, system prompt, temperature, tools …)."""

    def __post_init__(self) -> None:
        check_config(self.config)


class ProfileUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What to change of a profile's metadata (the slug stays); unset fields stay."""

    name: ProfileName | None = None
    description: Description | None = None
    skills: Annotated[list[Skill], msgspec.Meta(max_length=64)] | None = None
    visibility: Visibility | None = None
    avatar_url: AvatarUrl | None = None


class ProfileList(msgspec.Struct, kw_only=True):
    profiles: list[AgentProfile]


class NewAgentKey(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: KeyName


class CreatedAgentKey(msgspec.Struct, kw_only=True):
    """Shown once: the key's text is not stored and cannot be read back."""

    key: AgentKey
    token: str
    """The key itself (`agk_…`): the agent program sends it as `Authorization: Bearer
    <token>` to POST /api/sessions or /api/join."""


class AgentKeyList(msgspec.Struct, kw_only=True):
    keys: list[AgentKey]


class ConfigUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    config: dict[str, Any]
    expected_revision: ExpectedRevision
    """The revision this edit is based on; another one gets `conflict` with the current."""

    def __post_init__(self) -> None:
        check_config(self.config)


class ConfigSchema(msgspec.Struct, kw_only=True):
    """A profile's configuration schema, as GET and PUT answer it."""

    schema: dict[str, Any] | None
    """The JSON Schema (draft 2020-12) every configuration revision satisfies, the
    current one included; null: none (any JSON object)."""


class SetConfigSchema(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of PUT /config/schema."""

    schema: dict[str, Any] | None
    """A JSON Schema (draft 2020-12) every configuration revision must satisfy, the
    current one included; null clears it. Its `$ref`s must resolve inside it: remote
    references are refused, never fetched."""

    def __post_init__(self) -> None:
        if self.schema is not None:
            check_config_schema(self.schema)


class Rollback(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    to: Revision
    """The revision whose configuration becomes the new revision's."""
    expected_revision: ExpectedRevision


class RevisionQuery(msgspec.Struct):
    """Query of GET /config/revisions: newest first, those below a revision."""

    before: (
        Annotated[int, msgspec.Meta(ge=1, le=MAX_REVISION, description="revisions below this one")]
        | None
    ) = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200, description="at most this many")] = 50


class RevisionPage(msgspec.Struct, kw_only=True):
    revisions: list[ConfigRevision]
    next_before: int | None
    """Pass as `before` for the next (older) page; null when this page is the last."""


class ConfigDiffQuery(msgspec.Struct):
    """Query of GET /config/diff: the two revisions to compare."""

    from_: Annotated[int, msgspec.Meta(ge=1, le=MAX_REVISION, description="the older revision")] = (
        msgspec.field(name="from")
    )
    to: Annotated[int, msgspec.Meta(ge=1, le=MAX_REVISION, description="the newer revision")]


class RevisionDiff(msgspec.Struct, kw_only=True):
    """What changed from revision `from` to revision `to`, by JSON path."""

    from_: int = msgspec.field(name="from")
    to: int
    added: list[PathValue]
    removed: list[PathValue]
    changed: list[PathChange]
