"""Agent profiles' pure rules: the configuration diff by JSON path, its bounds, and its
optional JSON Schema."""

from __future__ import annotations

import re
import time

import pytest

from hub.domain import check_config, diff_config
from hub.domain.profiles import (
    CHECK_SECONDS,
    DRAFT_2020_12,
    MAX_CONFIG_BYTES,
    PathChange,
    PathValue,
    check_config_schema,
    check_conforms,
    json_path,
)
from hub.errors import HubError


def test_diff_names_added_removed_and_changed_keys_by_path() -> None:
    """Keys only in the new value are added, only in the old removed, in both with
    another value changed; nested objects are walked."""
    old = {"model": "m1", "temperature": 0.2, "limits": {"tokens": 100, "calls": 3}}
    new = {"model": "m2", "limits": {"tokens": 100, "depth": 2}, "tools": []}
    diff = diff_config(old, new)
    assert diff.added == [
        PathValue(path="$.limits.depth", value=2),
        PathValue(path="$.tools", value=[]),
    ]
    assert diff.removed == [
        PathValue(path="$.temperature", value=0.2),
        PathValue(path="$.limits.calls", value=3),
    ]
    assert diff.changed == [PathChange(path="$.model", old="m1", new="m2")]


def test_lists_are_compared_index_by_index() -> None:
    """List items are compared at each index; a longer list adds items, a shorter one
    removes them."""
    old = {"tools": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    new = {"tools": [{"name": "a"}, {"name": "B"}]}
    diff = diff_config(old, new)
    assert diff.changed == [PathChange(path="$.tools[1].name", old="b", new="B")]
    assert diff.removed == [PathValue(path="$.tools[2]", value={"name": "c"})]
    assert diff_config(new, old).added == [PathValue(path="$.tools[2]", value={"name": "c"})]


def test_equal_values_have_no_diff_but_a_change_of_type_is_one() -> None:
    """Equal configurations differ nowhere; 1, 1.0 and true are different JSON values."""
    same = {"a": [1, {"b": None}], "c": "x"}
    diff = diff_config(same, {"c": "x", "a": [1, {"b": None}]})
    assert (diff.added, diff.removed, diff.changed) == ([], [], [])
    assert [c.path for c in diff_config({"t": 1}, {"t": True}).changed] == ["$.t"]
    assert [c.path for c in diff_config({"t": 1}, {"t": 1.0}).changed] == ["$.t"]
    assert diff_config({"o": {"x": 1}}, {"o": [1]}).changed == [
        PathChange(path="$.o", old={"x": 1}, new=[1])
    ]


def test_keys_that_are_not_identifiers_are_quoted() -> None:
    """A key that is not an identifier is written in brackets, quotes escaped."""
    assert json_path("$", "system prompt") == "$['system prompt']"
    assert json_path("$", "it's") == "$['it\\'s']"
    assert json_path("$.a", 3) == "$.a[3]"
    assert diff_config({}, {"a.b": 1}).added == [PathValue(path="$['a.b']", value=1)]


def test_config_bounds() -> None:
    """A configuration nested too deep or too large is refused."""
    check_config({"model": "m", "tools": [{"name": "x"}]})
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        child: dict[str, object] = {}
        node["k"] = child
        node = child
    with pytest.raises(ValueError, match="nested"):
        check_config(deep)
    with pytest.raises(ValueError, match="larger"):
        check_config({"prompt": "x" * MAX_CONFIG_BYTES})


def test_a_schema_must_be_valid_draft_2020_12_with_references_inside_it() -> None:
    """A valid schema passes; an invalid one, another draft, or a `$ref`/`$dynamicRef`
    outside the schema is refused naming the problem; references to `$defs`, anchors,
    embedded `$id`s and the draft's meta-schema resolve."""
    for good in (
        {"type": "object", "properties": {"t": {"type": "number", "maximum": 2}}},
        {"$defs": {"a": {"type": "string"}}, "items": {"$ref": "#/$defs/a"}},
        {"$defs": {"a": {"$anchor": "a"}}, "items": {"$ref": "#a"}},
        {
            "$id": "https://example.org/root",
            "$defs": {"a": {"$id": "a.json"}},
            "items": {"$ref": "a.json"},
        },
        {"$ref": DRAFT_2020_12},
        {"const": {"$ref": "https://example.org/not-a-reference"}},
    ):
        check_config_schema(good)
    for bad, says in (
        ({"type": "nope"}, "at $.type"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "2020-12"),
        ({"$ref": "https://example.org/s.json"}, "does not resolve inside the schema"),
        ({"$id": "https://example.org/r", "items": {"$ref": "b.json"}}, "'b.json'"),
        ({"$dynamicRef": "#meta"}, "$dynamicRef"),
        ({"properties": {"a": {"pattern": "("}}}, "$.properties.a.pattern"),
    ):
        with pytest.raises(ValueError, match=re.escape(says)):
            check_config_schema(bad)


def test_a_configuration_is_checked_against_the_schema_in_force() -> None:
    """No schema allows anything; a breaking configuration is `bad_request` naming the
    JSON path of at most a few errors, in a bounded message."""
    check_conforms(None, {"anything": [1]}, "the configuration")
    schema = {"properties": {"t": {"maximum": 2}, "s": {"maxLength": 3}}, "required": ["m"]}
    check_conforms(schema, {"m": 1, "t": 1}, "the configuration")
    with pytest.raises(HubError) as broken:
        check_conforms(schema, {"t": 3, "s": "x" * 50_000, "odd key": 1}, "revision 4")
    message = str(broken.value)
    assert broken.value.code == "bad_request" and "revision 4" in message
    assert "$.t:" in message and "$.s:" in message and "$: 'm' is a required" in message
    assert len(message) < 1_000
    looping = {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
    with pytest.raises(HubError, match="recurses"):
        check_conforms(looping, {}, "the configuration")


def test_a_backtracking_pattern_is_stopped_within_the_time_budget() -> None:
    """A `pattern` or `patternProperties` key that backtracks without end (which `re`
    would run for ages) is stopped after the budget and refused `bad_request`; patterns
    are compiled by the engine that runs them when the schema is set."""
    schema = {
        "properties": {"a": {"pattern": "^(a|a)*$"}},
        "patternProperties": {"^(b|b)*$": {"type": "string"}},
    }
    check_config_schema(schema)
    check_conforms(schema, {"a": "aaa", "bb": "x"}, "the configuration")
    for config in ({"a": "a" * 40 + "!"}, {"b" * 40 + "!": 1}):
        started = time.monotonic()
        with pytest.raises(HubError, match="took more than"):
            check_conforms(schema, config, "the configuration")
        assert time.monotonic() - started < CHECK_SECONDS + 1
