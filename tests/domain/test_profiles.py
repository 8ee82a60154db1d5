"""Agent profiles' pure rules: the configuration diff by JSON path, and its bounds."""

from __future__ import annotations

import pytest

from hub.domain import check_config, diff_config
from hub.domain.profiles import MAX_CONFIG_BYTES, PathChange, PathValue, json_path


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
