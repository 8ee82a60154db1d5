"""Artifacts' kinds, validated by decoding: a pipeline's ids are unique, its edges name
its nodes and it has no cycle; a table's rows match its columns; a scene's
representations name its structures; free JSON is bounded; and what each kind
references among the session's attachments."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest

from hub import api
from hub.domain.artifacts import (
    ArtifactData,
    Canvas3D,
    ImageArtifact,
    JsonArtifact,
    Pipeline,
    Table,
    find_cycle,
    kind_of,
    referenced_attachments,
)

ATT = "att_" + "a" * 21
ATT2 = "att_" + "b" * 21


def decode(data: dict[str, Any]) -> ArtifactData:
    return msgspec.convert(data, ArtifactData)  # type: ignore[arg-type]


def refused(data: dict[str, Any], needle: str) -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        decode(data)
    assert needle in str(caught.value), str(caught.value)


def pipeline(edges: list[tuple[str, str]], nodes: str = "abcd") -> dict[str, Any]:
    return {
        "kind": "pipeline",
        "nodes": [{"id": n, "type": "step"} for n in nodes],
        "edges": [{"source": s, "target": t} for s, t in edges],
    }


def test_each_kind_decodes_by_its_tag() -> None:
    """Each kind decodes into its own Struct and encodes back with its `kind`."""
    cases = {
        "pipeline": pipeline([("a", "b"), ("b", "c"), ("a", "d"), ("d", "c")]),
        "table": {"kind": "table", "columns": ["x", "y"], "rows": [[1, "a"], [2.5, None]]},
        "image": {"kind": "image", "attachment_id": ATT, "caption": "a plot"},
        "json": {"kind": "json", "value": {"anything": [1, 2, {"deep": True}]}},
        "canvas3d": {
            "kind": "canvas3d",
            "structures": [{"id": "prot", "attachment_id": ATT, "format": "pdb"}],
            "camera": {"position": [0, 0, 50], "target": [0, 0, 0], "zoom": 1.5},
            "representations": [{"structure": "prot", "style": "cartoon", "color": "spectrum"}],
            "annotations": [{"text": "active site", "position": [1, 2, 3]}],
            "objects": [{"shape": "sphere", "center": [0, 0, 0], "radius": 2}],
            "viewer_code": "viewer.zoomTo(); alert(document.cookie)",
        },
    }
    types = {
        "pipeline": Pipeline,
        "table": Table,
        "image": ImageArtifact,
        "json": JsonArtifact,
        "canvas3d": Canvas3D,
    }
    for kind, raw in cases.items():
        data = decode(raw)
        assert isinstance(data, types[kind]) and kind_of(data) == kind
        assert msgspec.json.decode(msgspec.json.encode(data))["kind"] == kind


def test_a_cyclic_pipeline_is_refused() -> None:
    """A cycle anywhere (a self loop, a long loop behind an acyclic part) is refused
    and named; a diamond is not a cycle."""
    refused(pipeline([("a", "b"), ("b", "c"), ("c", "a")]), "cycle: a -> b -> c -> a")
    refused(pipeline([("d", "d")]), "cycle: d -> d")
    refused(pipeline([("a", "b"), ("b", "c"), ("c", "d"), ("d", "b")]), "b -> c -> d -> b")
    decode(pipeline([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]))


def test_a_long_chain_is_checked_without_recursion() -> None:
    """A 500-node chain (past any recursion a naive search would need per node) is
    accepted, and closing it into a loop is refused."""
    ids = [f"n{i}" for i in range(500)]
    chain = list(itertools.pairwise(ids))
    assert find_cycle(ids, chain) is None
    cycle = find_cycle(ids, [*chain, (ids[-1], ids[0])])
    assert cycle is not None and cycle[0] == cycle[-1] == "n0" and len(cycle) == 501


def test_pipeline_edges_must_name_nodes_and_ids_be_unique() -> None:
    """A dangling edge and a duplicate node id are refused, each named."""
    refused(pipeline([("a", "zz")]), "no node of the pipeline: 'zz'")
    refused(pipeline([], nodes="aba"), "node id 'a' is given twice")
    refused({"kind": "pipeline", "nodes": []}, "length >= 1")


def test_a_table_row_has_one_cell_per_column() -> None:
    """A row narrower or wider than the columns is refused, naming the row."""
    refused({"kind": "table", "columns": ["a", "b"], "rows": [[1, 2], [3]]}, "row 1 has 1 cells")
    refused({"kind": "table", "columns": ["a"], "rows": [[1, 2]]}, "row 0 has 2 cells")
    refused({"kind": "table", "columns": ["a"], "rows": [[{"nested": 1}]]}, "rows")


def test_a_scene_names_its_own_structures() -> None:
    """A representation of a structure the scene does not have, and two structures
    with one id, are refused; unknown fields are refused too."""
    s = {"id": "p", "attachment_id": ATT}
    refused(
        {"kind": "canvas3d", "structures": [s], "representations": [{"structure": "q"}]},
        "names no structure of the scene: 'q'",
    )
    refused({"kind": "canvas3d", "structures": [s, s]}, "structure id 'p' is given twice")
    refused({"kind": "canvas3d", "script": "x"}, "unknown field `script`")
    refused({"kind": "canvas3d", "structures": [{"id": "p", "attachment_id": "x"}]}, "att_")


def test_a_json_artifact_holds_any_json_value() -> None:
    """A `json` artifact's `value` may be any JSON value: an object, an array, a string,
    a number, a boolean or null."""
    for value in ({"a": 1}, [1, "x"], "text", 42, -2.5, True, False, None):
        data = decode({"kind": "json", "value": value})
        assert isinstance(data, JsonArtifact) and data.value == value
        assert msgspec.json.decode(msgspec.json.encode(data)) == {"kind": "json", "value": value}


def test_unknown_kinds_and_deep_json_are_refused() -> None:
    """A kind that does not exist is refused; free JSON deeper than 32 levels too."""
    refused({"kind": "hologram"}, "Invalid value 'hologram'")
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    refused({"kind": "json", "value": deep}, "nested more than 32 levels")


def test_what_an_artifact_references() -> None:
    """A scene references its structures' attachments (each once) and an image its
    attachment; other kinds reference none."""
    scene = decode(
        {
            "kind": "canvas3d",
            "structures": [
                {"id": "a", "attachment_id": ATT},
                {"id": "b", "attachment_id": ATT2},
                {"id": "c", "attachment_id": ATT},
            ],
        }
    )
    assert referenced_attachments(scene) == [ATT, ATT2]
    assert referenced_attachments(decode({"kind": "image", "attachment_id": ATT2})) == [ATT2]
    assert referenced_attachments(decode({"kind": "table", "columns": ["a"]})) == []


def test_a_new_artifact_names_exactly_one_message_and_is_bounded() -> None:
    """A create names `message_id` or `message`, not both nor neither; data over the
    size bound is refused."""
    table = {"kind": "table", "columns": ["a"], "rows": []}
    msgspec.convert({"title": "t", "data": table, "message_id": 1}, api.NewArtifact)
    message = {"client_msg_id": "c1", "content": "here"}
    msgspec.convert({"title": "t", "data": table, "message": message}, api.NewArtifact)
    for fields in ({}, {"message_id": 1, "message": message}):
        with pytest.raises(msgspec.ValidationError, match="exactly one"):
            msgspec.convert({"title": "t", "data": table, **fields}, api.NewArtifact)
    big = {"kind": "table", "columns": ["a"], "rows": [["x" * 1000]] * 600}
    with pytest.raises(msgspec.ValidationError, match="at most 512000 bytes"):
        msgspec.convert({"title": "t", "data": big, "message_id": 1}, api.NewArtifact)
