"""The pure rules of templates: references, who may do what, what a session created from
one takes, and what a template may hold."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from hub.domain import Blueprint, parse_template_ref, session_settings, template_allows
from hub.domain.templates import MAX_SEED_CHARS, TemplateRef
from hub.errors import HubError


def test_references_name_an_id_a_persons_or_a_spaces_template() -> None:
    """`tpl_…`, `USERNAME/SLUG` and `space:SPACE/SLUG` parse; anything else is not_found."""
    assert parse_template_ref("tpl_" + "a" * 21) == TemplateRef(id="tpl_" + "a" * 21)
    assert parse_template_ref("ada.l/kit") == TemplateRef(username="ada.l", slug="kit")
    assert parse_template_ref("space:lab/kit") == TemplateRef(space="lab", slug="kit")
    spc = "spc_" + "b" * 21
    assert parse_template_ref(f"space:{spc}/kit") == TemplateRef(space=spc, slug="kit")
    for bad in ("tpl_short", "ada/kit/more", "space:/kit", "ada/", "/kit", "ad/kit", "a\x00b/kit"):
        with pytest.raises(HubError) as raised:
            parse_template_ref(bad)
        assert raised.value.code == "not_found", bad


@pytest.mark.parametrize(
    ("facts", "read", "use", "edit"),
    [
        ({"public": False, "owner_is_caller": True, "space_role": None}, True, True, True),
        ({"public": False, "owner_is_caller": False, "space_role": None}, False, False, False),
        ({"public": True, "owner_is_caller": False, "space_role": None}, True, True, False),
        ({"public": False, "owner_is_caller": False, "space_role": "owner"}, True, True, True),
        ({"public": False, "owner_is_caller": False, "space_role": "member"}, True, True, True),
        ({"public": False, "owner_is_caller": False, "space_role": "viewer"}, True, False, False),
        ({"public": True, "owner_is_caller": False, "space_role": "viewer"}, True, True, False),
    ],
)
def test_who_may_read_use_and_edit(
    facts: dict[str, Any], read: bool, use: bool, edit: bool
) -> None:
    """Owners everything; space owners and members edit and use, viewers read; anyone
    reads and uses a public template; nobody else anything."""
    assert [template_allows(a, **facts) for a in ("read", "use", "edit")] == [read, use, edit]


def test_explicit_values_win_then_the_templates_then_the_hubs() -> None:
    """Mode and privacy: the request's, else the template's, else the default; metadata:
    the template's with the request's keys replacing its own."""
    template = Blueprint(name="t", mode="realtime", is_private=True, metadata={"a": 1, "b": 1})
    assert session_settings(None, None, {"b": 2}, template) == (
        "realtime",
        True,
        {"a": 1, "b": 2},
    )
    assert session_settings("async", False, {}, template) == ("async", False, {"a": 1, "b": 1})
    assert session_settings(None, None, {}, Blueprint(name="t")) == ("async", True, {})
    assert session_settings(None, None, {"x": 1}, None) == ("async", True, {"x": 1})
    with pytest.raises(HubError) as raised:
        session_settings(
            None, None, {"big": "y" * 9000}, Blueprint(name="t", metadata={"z": "x" * 9000})
        )
    assert raised.value.code == "bad_request"


def test_what_a_template_may_hold() -> None:
    """Seed files need good, distinct paths; all seeds together hold at most
    MAX_SEED_CHARS characters."""
    decode = msgspec.json.Decoder(Blueprint).decode
    assert decode(b'{"name": "t", "files": [{"path": "a/b.txt"}]}').files[0].content == ""
    for body in (
        {"name": "t", "files": [{"path": "../x"}]},
        {"name": "t", "files": [{"path": "x"}, {"path": "x"}]},
        {
            "name": "t",
            "notes": [{"title": "n", "content": "x" * 200_000}] * (MAX_SEED_CHARS // 200_000),
            "files": [{"path": "one-more", "content": "y"}],
        },
        {"name": "t", "other": 1},
    ):
        with pytest.raises(msgspec.ValidationError):
            decode(msgspec.json.encode(body))
