"""Agent profiles: what a person's agent program is (slug, name, skills as in an A2A agent
card), the agent keys (`agk_…`) it acts with, and its versioned configuration.

A configuration is free JSON (model, system prompt, temperature, tools …). Every change
makes revision N+1; history is never rewritten (a rollback is a new revision equal to an
old one); `diff_config` says what changed between two, key by key, by JSON path.

A profile may carry a `config_schema` (JSON Schema, draft 2020-12) that every revision
must satisfy: `check_config_schema` says whether a schema is one we accept (valid, bounded,
every `$ref` resolving inside the schema itself: nothing is ever fetched), and
`check_conforms` whether a configuration satisfies it, within a time budget (anyone with
an account writes both schema and configuration: a backtracking `pattern` must not stall
the hub).
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import regex
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema_specifications import REGISTRY as _METASCHEMAS
from referencing import Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from hub.domain.metadata import check_json
from hub.errors import HubError

__all__ = [
    "DRAFT_2020_12",
    "MAX_CONFIG_BYTES",
    "MAX_SCHEMA_BYTES",
    "SLUG_PATTERN",
    "AgentKey",
    "AgentPrincipal",
    "AgentProfile",
    "AvatarUrl",
    "ConfigDiff",
    "ConfigRevision",
    "Description",
    "PathChange",
    "PathValue",
    "ProfileName",
    "Skill",
    "Slug",
    "Visibility",
    "check_config",
    "check_config_schema",
    "check_conforms",
    "diff_config",
    "json_path",
]

SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{2,47}$"
Slug = Annotated[
    str,
    msgspec.Meta(
        pattern=SLUG_PATTERN,
        description="3-48 letters, digits, '_' or '-', starting with a letter or digit;"
        " unique whatever its case",
    ),
]
Visibility = Literal["public", "unlisted"]
AvatarUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://\S+$")]
ProfileName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Description = Annotated[str, msgspec.Meta(max_length=2000)]
_Short = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]

MAX_CONFIG_BYTES = 65_536
"""Encoded size of one configuration (a long system prompt fits; data belongs elsewhere)."""
_MAX_CONFIG_DEPTH = 32
MAX_SCHEMA_BYTES = 65_536
"""Encoded size of a configuration schema."""
_MAX_SCHEMA_DEPTH = 64
"""A schema nests about two levels (`properties`, the name) per level of configuration."""
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
MAX_SKILLS = 64


class Skill(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One thing the agent can do, as an A2A agent card's `skills` entry."""

    id: _Short
    name: _Short
    description: Description = ""
    tags: Annotated[list[_Short], msgspec.Meta(max_length=32)] = []
    examples: Annotated[list[Description], msgspec.Meta(max_length=16)] = []


Skills = Annotated[list[Skill], msgspec.Meta(max_length=MAX_SKILLS)]


class AgentProfile(msgspec.Struct, kw_only=True):
    """An agent profile as its owner (and, if public, anyone with a user key) sees it."""

    id: str
    slug: str
    owner: str
    """The owner's username."""
    name: str
    description: str
    skills: list[Skill]
    visibility: Visibility
    avatar_url: str | None
    current_revision: int
    created_at: datetime
    updated_at: datetime
    rating_count: int = 0
    """Ratings received from the agents it shared a session with."""
    rating_mean: float | None = None
    """Their mean score (None before the first)."""
    rating_scores: list[int] = msgspec.field(default_factory=lambda: [0, 0, 0, 0, 0])
    """How many of each score, 1 to 5."""


class AgentKey(msgspec.Struct, kw_only=True):
    """An agent key as listed: its id and name, never its text."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ConfigRevision(msgspec.Struct, kw_only=True):
    """One revision of a profile's configuration, as it was written."""

    revision: int
    config: dict[str, Any]
    author: str
    """The username of the person who wrote it."""
    rollback_of: int | None
    """The revision this one restored, if it was a rollback."""
    created_at: datetime


class AgentPrincipal(msgspec.Struct, frozen=True, kw_only=True):
    """Who an agent key speaks for: a profile (at its current revision), through one key."""

    profile_id: str
    slug: str
    owner_id: str
    key_id: str
    revision: int


def check_config(config: dict[str, Any]) -> None:
    """Refuse (ValueError) a configuration nested deeper than 32 levels or larger than
    `MAX_CONFIG_BYTES` encoded. Called by msgspec after decoding."""
    check_json(config, "config", MAX_CONFIG_BYTES, _MAX_CONFIG_DEPTH)


# --- the configuration schema ------------------------------------------------------------


def check_config_schema(schema: dict[str, Any]) -> None:
    """Refuse (ValueError, naming the problem) a configuration schema that is too large or
    deep, declares a `$schema` other than draft 2020-12, is not a valid draft 2020-12
    schema, or has a `$ref`/`$dynamicRef` that does not resolve inside the schema itself
    (or to a draft 2020-12 meta-schema, which the hub holds): remote references are
    refused, never fetched. Called by msgspec after decoding."""
    check_json(schema, "schema", MAX_SCHEMA_BYTES, _MAX_SCHEMA_DEPTH)
    declared = schema.get("$schema", DRAFT_2020_12)
    if declared not in (DRAFT_2020_12, DRAFT_2020_12 + "#"):
        raise ValueError(f"schema: only JSON Schema draft 2020-12 ({DRAFT_2020_12}) is supported")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = _path(exc.absolute_path)
        message = f"schema is not valid JSON Schema at {where}: {_short(exc.message)}"
        raise ValueError(message) from None
    _check_references(schema)


def _check_references(schema: dict[str, Any]) -> None:
    """Also compiles every `pattern` and `patternProperties` key with the engine that
    runs them (`regex`, which can stop a search in time; `re` cannot)."""
    root: Resource[Any] = DRAFT202012.create_resource(schema)
    resolver = _METASCHEMAS.resolver_with_root(root)

    def walk(contents: Any, resolver: Any) -> None:
        if not isinstance(contents, dict):
            return
        resolver = resolver.in_subresource(DRAFT202012.create_resource(contents))
        patterns = list(contents.get("patternProperties", {}))
        if isinstance(contents.get("pattern"), str):
            patterns.append(contents["pattern"])
        for pattern in patterns:
            try:
                regex.compile(pattern)
            except regex.error as exc:
                raise ValueError(f"schema: pattern {_short(pattern, 200)!r}: {exc}") from None
        for keyword in ("$ref", "$dynamicRef"):
            ref = contents.get(keyword)
            if isinstance(ref, str):
                try:
                    resolver.lookup(ref)
                except Unresolvable:
                    raise ValueError(
                        f"schema: {keyword} {_short(ref, 200)!r} does not resolve inside the"
                        " schema (remote references are not fetched)"
                    ) from None
        for sub in DRAFT202012.subresources_of(contents):
            walk(sub, resolver)

    walk(schema, resolver)


_MAX_REPORTED_ERRORS = 3
CHECK_SECONDS = 0.5
"""How long checking one configuration against a schema may take in all."""
_deadline: ContextVar[float] = ContextVar("config_check_deadline", default=math.inf)


class _TooSlow(Exception):
    pass


def _time_left() -> float:
    left = _deadline.get() - time.monotonic()
    if left <= 0:
        raise _TooSlow
    return left


def _search(pattern: str, text: str) -> bool:
    try:
        return regex.search(pattern, text, timeout=_time_left()) is not None
    except TimeoutError:
        raise _TooSlow from None


Keyword = Callable[[Any, Any, Any, Any], Iterator[ValidationError] | None]


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _timed(keyword: Keyword) -> Keyword:
    def timed(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        _time_left()
        yield from keyword(validator, value, instance, schema) or ()

    return timed


_KEYWORDS: dict[str, Keyword] = {
    **Draft202012Validator.VALIDATORS,
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
}
_ConfigValidator = validators.extend(
    Draft202012Validator, {name: _timed(check) for name, check in _KEYWORDS.items()}
)
"""Draft 2020-12, each keyword checking the time budget first, patterns run by `regex`."""


def check_conforms(schema: dict[str, Any] | None, config: dict[str, Any], what: str) -> None:
    """Refuse (`bad_request`) a configuration that does not satisfy `schema` (None: any
    configuration does), naming the JSON path and the problem of the first few errors;
    `what` says which configuration ("the configuration", "revision 3")."""
    if schema is None:
        return
    # an empty registry (beside the meta-schemas): a reference outside the schema is an
    # error, never a download
    validator = _ConfigValidator(schema, registry=_METASCHEMAS)
    budget = _deadline.set(time.monotonic() + CHECK_SECONDS)
    try:
        errors = list(itertools.islice(validator.iter_errors(config), _MAX_REPORTED_ERRORS))
    except _TooSlow:
        message = (
            f"checking {what} against the schema took more than {CHECK_SECONDS} s"
            " (a pattern that backtracks?)"
        )
        raise HubError("bad_request", message) from None
    except Unresolvable as exc:
        raise HubError("bad_request", f"the schema has an unresolvable reference: {exc}") from None
    except RecursionError:
        message = "the schema recurses without end on this configuration"
        raise HubError("bad_request", message) from None
    finally:
        _deadline.reset(budget)
    if errors:
        found = "; ".join(f"{_path(e.absolute_path)}: {_short(e.message)}" for e in errors)
        raise HubError("bad_request", f"{what} does not satisfy the schema: {found}")


def _path(steps: Any) -> str:
    path = "$"
    for step in steps:
        path = json_path(path, step)
    return _short(path, 200)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- diffs ------------------------------------------------------------------------------


class PathValue(msgspec.Struct, kw_only=True):
    path: str
    value: Any


class PathChange(msgspec.Struct, kw_only=True):
    path: str
    old: Any
    new: Any


class ConfigDiff(msgspec.Struct, kw_only=True):
    """What changed from one JSON value to another, by JSON path (`$.tools[0].name`):
    keys and list items added, removed, and values changed."""

    added: list[PathValue]
    removed: list[PathValue]
    changed: list[PathChange]


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parent: str, step: str | int) -> str:
    """`parent` extended by an object key (`.key`, or `['odd key']`) or a list index."""
    if isinstance(step, int):
        return f"{parent}[{step}]"
    if _IDENTIFIER.match(step):
        return f"{parent}.{step}"
    quoted = step.replace("\\", "\\\\").replace("'", "\\'")
    return f"{parent}['{quoted}']"


def _same(old: Any, new: Any) -> bool:
    # JSON distinguishes true from 1 and 1 from 1.0 only by type; so do we
    return type(old) is type(new) and bool(old == new)


def diff_config(old: Any, new: Any) -> ConfigDiff:
    """The differences from `old` to `new` (decoded JSON): objects are compared key by
    key and lists index by index, recursively; anything else, or a change of type, is a
    change of the value at that path. Paths are listed in document order."""
    diff = ConfigDiff(added=[], removed=[], changed=[])

    def walk(path: str, a: Any, b: Any) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in a:
                if key in b:
                    walk(json_path(path, key), a[key], b[key])
                else:
                    diff.removed.append(PathValue(path=json_path(path, key), value=a[key]))
            for key in b:
                if key not in a:
                    diff.added.append(PathValue(path=json_path(path, key), value=b[key]))
        elif isinstance(a, list) and isinstance(b, list):
            for index in range(min(len(a), len(b))):
                walk(json_path(path, index), a[index], b[index])
            for index in range(len(b), len(a)):
                diff.removed.append(PathValue(path=json_path(path, index), value=a[index]))
            for index in range(len(a), len(b)):
                diff.added.append(PathValue(path=json_path(path, index), value=b[index]))
        elif not _same(a, b):
            diff.changed.append(PathChange(path=path, old=a, new=b))

    walk("$", old, new)
    return diff
