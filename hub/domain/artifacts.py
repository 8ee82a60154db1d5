"""Artifacts: typed JSON documents attached to a message (a 3D scene, a pipeline graph,
a table, a captioned image, any other JSON), versioned like notes.

Each kind is one tagged `msgspec.Struct` (the tag is `kind`); decoding one is validating
it, including the rules a schema cannot say (a pipeline's node ids are unique, its edges
name its nodes and it has no cycle; a table's rows are as wide as its columns; a scene's
representations name its structures). A new kind is one Struct here (added to
`ArtifactData`) and one renderer on the page. Which attachments an artifact references
(`referenced_attachments`) is checked against the session by the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec

from hub.domain.attachments import AttachmentId
from hub.domain.metadata import MAX_JSON_DEPTH, check_json

__all__ = [
    "ARTIFACT_KINDS",
    "GALLERY_PAGE_BYTES",
    "MAX_ARTIFACT_BYTES",
    "Artifact",
    "ArtifactData",
    "ArtifactKind",
    "ArtifactVersion",
    "ArtifactVersionInfo",
    "Canvas3D",
    "ImageArtifact",
    "JsonArtifact",
    "Pipeline",
    "PipelineEdge",
    "PipelineNode",
    "Table",
    "check_size",
    "encoded_size",
    "find_cycle",
    "kind_of",
    "referenced_attachments",
]

MAX_ARTIFACT_BYTES: Final = 512_000
"""An artifact's `data`, encoded: larger results belong in an attachment it references."""
GALLERY_PAGE_BYTES: Final = 1_048_576
"""A gallery page holds artifacts whose data come to at most this many bytes (and always
at least one artifact)."""

ArtifactKind = Literal["canvas3d", "pipeline", "table", "image", "json"]
ARTIFACT_KINDS: Final[tuple[str, ...]] = ("canvas3d", "pipeline", "table", "image", "json")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Label = Annotated[str, msgspec.Meta(max_length=200)]
Caption = Annotated[str, msgspec.Meta(max_length=2000)]
Color = Annotated[str, msgspec.Meta(max_length=64)]
Vector3 = Annotated[list[float], msgspec.Meta(min_length=3, max_length=3)]


def _free_json(value: Any, what: str) -> None:
    """Free JSON inside an artifact: bounded depth (its size is bounded by the whole)."""
    check_json(value, what, MAX_ARTIFACT_BYTES, MAX_JSON_DEPTH)


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what} {item!r} is given twice")
        seen.add(item)


class _Kind(msgspec.Struct, tag_field="kind", kw_only=True, forbid_unknown_fields=True):
    """An artifact's data: one subclass per kind, tagged by `kind`."""


# --- canvas3d -------------------------------------------------------------------------


class Structure(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A molecular structure: an attachment of the session (PDB, mmCIF, …)."""

    id: Name
    attachment_id: AttachmentId
    format: Literal["pdb", "mmcif", "cif", "sdf", "mol2", "xyz"] | None = None
    """The file's format; null: guessed from the attachment's name or type."""
    name: Label | None = None


class Camera(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    position: Vector3 | None = None
    target: Vector3 | None = None
    up: Vector3 | None = None
    zoom: Annotated[float, msgspec.Meta(gt=0, le=1000)] | None = None


class Representation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How (part of) a structure is drawn."""

    structure: Name
    """The `id` of one of the scene's structures."""
    style: Literal["cartoon", "stick", "sphere", "line", "surface", "ball_and_stick"] = "cartoon"
    selection: dict[str, Any] = {}
    """A viewer selection (e.g. `{"chain": "A", "resi": [10, 20]}`); empty: all."""
    color: Color | None = None

    def __post_init__(self) -> None:
        _free_json(self.selection, "selection")


class Annotation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    text: Label
    position: Vector3 | None = None
    color: Color | None = None


class Canvas3D(_Kind, tag="canvas3d"):
    """A 3D scene: structures by attachment, a camera, free-form objects (shapes),
    representations and annotations. `viewer_code` is kept as text only: the hub never
    runs it, and the page never runs it in the hub's origin."""

    structures: Annotated[list[Structure], msgspec.Meta(max_length=32)] = []
    camera: Camera | None = None
    objects: Annotated[list[dict[str, Any]], msgspec.Meta(max_length=1000)] = []
    representations: Annotated[list[Representation], msgspec.Meta(max_length=200)] = []
    annotations: Annotated[list[Annotation], msgspec.Meta(max_length=500)] = []
    viewer_code: Annotated[str, msgspec.Meta(max_length=64_000)] | None = None

    def __post_init__(self) -> None:
        _unique([s.id for s in self.structures], "structure id")
        known = {s.id for s in self.structures}
        for rep in self.representations:
            if rep.structure not in known:
                raise ValueError(
                    f"a representation names no structure of the scene: {rep.structure!r}"
                )
        _free_json(self.objects, "objects")


# --- pipeline -------------------------------------------------------------------------


class PipelineNode(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Name
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    label: Label | None = None
    config: dict[str, Any] = {}

    def __post_init__(self) -> None:
        _free_json(self.config, "config")


class PipelineEdge(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    source: Name
    target: Name
    label: Label | None = None


class Pipeline(_Kind, tag="pipeline"):
    """A workflow: nodes and the edges source → target between them. Node ids are
    unique, every edge names two of the nodes, and the graph has no cycle."""

    nodes: Annotated[list[PipelineNode], msgspec.Meta(min_length=1, max_length=500)]
    edges: Annotated[list[PipelineEdge], msgspec.Meta(max_length=2000)] = []

    def __post_init__(self) -> None:
        _unique([n.id for n in self.nodes], "node id")
        known = {n.id for n in self.nodes}
        for edge in self.edges:
            for end in (edge.source, edge.target):
                if end not in known:
                    raise ValueError(f"an edge names no node of the pipeline: {end!r}")
        cycle = find_cycle([n.id for n in self.nodes], [(e.source, e.target) for e in self.edges])
        if cycle:
            raise ValueError("the pipeline has a cycle: " + " -> ".join(cycle))


def find_cycle(nodes: list[str], edges: list[tuple[str, str]]) -> list[str] | None:
    """A cycle of the directed graph as the nodes along it (first repeated last), or
    None when it is acyclic. Iterative: no recursion limit on long chains."""
    out: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edges:
        out[source].append(target)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in nodes:
        if start in state:
            continue
        path = [start]
        state[start] = 1
        stack = [iter(out[start])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(out[nxt]))
    return None


# --- table, image, json ---------------------------------------------------------------

Cell = str | int | float | bool | None


class Table(_Kind, tag="table"):
    """Columns and rows; every row has one cell per column."""

    columns: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=200)]],
        msgspec.Meta(min_length=1, max_length=200),
    ]
    rows: Annotated[list[list[Cell]], msgspec.Meta(max_length=20_000)] = []

    def __post_init__(self) -> None:
        width = len(self.columns)
        for number, row in enumerate(self.rows):
            if len(row) != width:
                raise ValueError(f"row {number} has {len(row)} cells, not {width} (one per column)")


class ImageArtifact(_Kind, tag="image"):
    """An image attachment of the session, with a caption."""

    attachment_id: AttachmentId
    caption: Caption = ""


class JsonArtifact(_Kind, tag="json"):
    """Any other result: free JSON."""

    value: Any

    def __post_init__(self) -> None:
        _free_json(self.value, "value")


ArtifactData = Canvas3D | Pipeline | Table | ImageArtifact | JsonArtifact
"""An artifact's content, tagged by `kind`."""


def referenced_attachments(data: ArtifactData) -> list[str]:
    """The attachment ids an artifact references, each once, in order: they must be
    uploads of the artifact's session."""
    if isinstance(data, Canvas3D):
        return list(dict.fromkeys(s.attachment_id for s in data.structures))
    if isinstance(data, ImageArtifact):
        return [data.attachment_id]
    return []


def kind_of(data: ArtifactData) -> ArtifactKind:
    """The kind of an artifact's data (its tag)."""
    kind: ArtifactKind = type(data).__struct_config__.tag  # type: ignore[assignment]
    return kind


def encoded_size(data: ArtifactData) -> int:
    """The data's length in bytes, encoded as JSON."""
    return len(msgspec.json.encode(data))


def check_size(data: ArtifactData) -> None:
    """Raise ValueError if `data` is larger than `MAX_ARTIFACT_BYTES` encoded."""
    if encoded_size(data) > MAX_ARTIFACT_BYTES:
        raise ValueError(f"an artifact's data is at most {MAX_ARTIFACT_BYTES} bytes encoded")


# --- the stored artifact ----------------------------------------------------------------


class Artifact(msgspec.Struct, kw_only=True):
    """A typed result attached to message `message_id`; `version` increases by one on
    every accepted update (its kind never changes)."""

    id: int
    session_id: str
    message_id: int
    kind: ArtifactKind
    title: str
    data: ArtifactData
    size: int
    """The data's encoded length in bytes."""
    version: int
    creator: str
    last_editor: str
    created_at: datetime
    updated_at: datetime


class ArtifactVersionInfo(msgspec.Struct, kw_only=True):
    """One kept version of an artifact, without its data."""

    artifact_id: int
    version: int
    title: str
    editor: str
    created_at: datetime
    at_message_id: int | None = None
    """The session's last message when this version was written (None: written before
    the hub recorded it)."""


class ArtifactVersion(ArtifactVersionInfo, kw_only=True):
    data: ArtifactData
