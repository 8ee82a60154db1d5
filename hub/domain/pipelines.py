"""How a pipeline run advances: pure rules over a pipeline artifact's graph and the
state of each of its nodes, with no I/O (the compute area applies them in the
transaction that records a node's result).

A run starts with every node `pending`. A node is queued (its job created) once every
node upstream of it has `succeeded`; its job's input carries the outputs of those
upstream nodes. A node that ends without succeeding (`failed`, `timed_out`,
`cancelled`) marks every pending node downstream of it `skipped`; branches that do not
depend on it go on. The run ends when no node is pending, queued or running: it
`succeeded` when every node did, `cancelled` when it was cancelled, `failed` otherwise.
Cancelling a run skips its pending nodes and cancels its queued and running ones.

Running a pipeline (the compute area): every node's job is created when the run starts,
each reserving its estimated cost (`node_costs`), so a run that starts can always finish
as far as credits go; a pending node's job is `waiting` (`node_state`).
"""

from __future__ import annotations

import re
from collections import deque
from datetime import datetime
from typing import Any, Literal

import msgspec
from nanoid import generate as nanoid

from hub.domain.access import Role
from hub.domain.artifacts import Pipeline
from hub.domain.jobs import KIND_PATTERN, JobStatus
from hub.domain.pools import MAX_CREDITS
from hub.errors import HubError

__all__ = [
    "ACTIVE",
    "COST_FIELD",
    "FINAL_NODE",
    "RUN_ID_PREFIX",
    "UNSUCCESSFUL",
    "Graph",
    "NodeState",
    "PipelineRun",
    "RunLogEntry",
    "RunNode",
    "RunStatus",
    "Step",
    "advance",
    "cancel",
    "check_runnable",
    "graph_of",
    "new_run_id",
    "node_costs",
    "node_input",
    "node_state",
    "run_status",
    "upstream_outputs",
]

NodeState = Literal[
    "pending", "queued", "running", "succeeded", "failed", "timed_out", "cancelled", "skipped"
]
RunStatus = Literal["running", "succeeded", "failed", "cancelled"]

ACTIVE: frozenset[str] = frozenset({"queued", "running"})
UNSUCCESSFUL: frozenset[str] = frozenset({"failed", "timed_out", "cancelled", "skipped"})
FINAL_NODE: frozenset[str] = frozenset({"succeeded"}) | UNSUCCESSFUL


class Graph(msgspec.Struct, frozen=True):
    """A pipeline's nodes in a topological order (ties in the artifact's own node
    order), and each node's upstream and downstream neighbours."""

    order: tuple[str, ...]
    upstream: dict[str, tuple[str, ...]]
    downstream: dict[str, tuple[str, ...]]


def graph_of(pipeline: Pipeline) -> Graph:
    """The graph of a (validated, hence acyclic) pipeline artifact."""
    ids = [node.id for node in pipeline.nodes]
    up: dict[str, list[str]] = {n: [] for n in ids}
    down: dict[str, list[str]] = {n: [] for n in ids}
    for edge in pipeline.edges:
        if edge.source not in up[edge.target]:  # a repeated edge counts once
            up[edge.target].append(edge.source)
            down[edge.source].append(edge.target)
    waiting = {n: len(up[n]) for n in ids}
    position = {n: i for i, n in enumerate(ids)}
    ready = deque(n for n in ids if waiting[n] == 0)
    order: list[str] = []
    while ready:
        node = ready.popleft()
        order.append(node)
        released = []
        for nxt in down[node]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                released.append(nxt)
        ready.extend(sorted(released, key=position.__getitem__))
    if len(order) != len(ids):  # Pipeline's own validation refuses cycles first
        raise ValueError("the pipeline has a cycle")
    return Graph(
        order=tuple(order),
        upstream={n: tuple(v) for n, v in up.items()},
        downstream={n: tuple(v) for n, v in down.items()},
    )


class Step(msgspec.Struct, frozen=True):
    """What to do next: the nodes to queue now and the nodes to mark skipped (both in
    topological order), and the run's status once they are applied."""

    queue: tuple[str, ...]
    skip: tuple[str, ...]
    status: RunStatus


def advance(graph: Graph, states: dict[str, NodeState], *, cancelled: bool = False) -> Step:
    """The next step of a run whose nodes stand at `states` (a node missing from it
    is pending). Idempotent: applying its step and advancing again gives no new work."""
    now = {n: states.get(n, "pending") for n in graph.order}
    skip: list[str] = []
    queue: list[str] = []
    for node in graph.order:  # upstream nodes are decided before their downstream ones
        if now[node] != "pending":
            continue
        ups = [now[u] for u in graph.upstream[node]]
        if cancelled or any(s in UNSUCCESSFUL for s in ups):
            now[node] = "skipped"
            skip.append(node)
        elif all(s == "succeeded" for s in ups):
            queue.append(node)
            now[node] = "queued"
    return Step(queue=tuple(queue), skip=tuple(skip), status=run_status(now, cancelled=cancelled))


def run_status(states: dict[str, NodeState], *, cancelled: bool = False) -> RunStatus:
    """`running` while any node may still run; then how the run ended."""
    if any(s not in FINAL_NODE for s in states.values()):
        return "running"
    if cancelled:
        return "cancelled"
    if all(s == "succeeded" for s in states.values()):
        return "succeeded"
    return "failed"


def cancel(graph: Graph, states: dict[str, NodeState]) -> tuple[list[str], list[str]]:
    """Cancelling a run: (the queued or running nodes whose jobs to cancel, the pending
    nodes to mark skipped), each in topological order."""
    stop = [n for n in graph.order if states.get(n, "pending") in ACTIVE]
    skip = [n for n in graph.order if states.get(n, "pending") == "pending"]
    return stop, skip


def node_input(
    pipeline: Pipeline, graph: Graph, node_id: str, outputs: dict[str, Any]
) -> dict[str, Any]:
    """A node's job input: its type and configuration from the artifact, and the
    output of each upstream node by node id (every one of them has succeeded)."""
    node = next(n for n in pipeline.nodes if n.id == node_id)
    return {
        "node": node.id,
        "type": node.type,
        "config": node.config,
        "upstream": upstream_outputs(graph, node_id, outputs),
    }


def upstream_outputs(graph: Graph, node_id: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """The `upstream` of a node's input: each upstream node's output by node id (null
    until that node has succeeded)."""
    return {u: outputs.get(u) for u in graph.upstream[node_id]}


# --- runs ---------------------------------------------------------------------------

RUN_ID_PREFIX = "run_"
COST_FIELD = "estimated_cost"
"""A node's `config` may say what its job is estimated to cost."""
_KIND = re.compile(KIND_PATTERN)


def new_run_id() -> str:
    return RUN_ID_PREFIX + str(nanoid(size=21))


def node_state(status: JobStatus) -> NodeState:
    """A node's state is its job's status; a job `waiting` for its upstream nodes is a
    `pending` node."""
    return "pending" if status == "waiting" else status


def check_runnable(pipeline: Pipeline) -> None:
    """Raise `bad_request` unless every node's `type` can be a job kind (the runners
    serving a node are those of its type)."""
    for node in pipeline.nodes:
        if not _KIND.match(node.type):
            raise HubError(
                "bad_request",
                f"node {node.id!r}: its type {node.type[:64]!r} is not a job kind"
                " (1-64 of a-z 0-9 _ . -, starting with a letter or digit)",
            )


def node_costs(pipeline: Pipeline, costs: dict[str, int], default: int) -> dict[str, int]:
    """Each node's estimated cost: the run request's `costs[node]`, else the node's
    `config.estimated_cost`, else the request's `default`. `bad_request` for a cost
    naming no node or a config cost that is not an integer of 0..MAX_CREDITS."""
    ids = [node.id for node in pipeline.nodes]
    unknown = set(costs) - set(ids)
    if unknown:
        raise HubError(
            "bad_request", f"costs names no node of the pipeline: {sorted(unknown)[0][:64]!r}"
        )
    found: dict[str, int] = {}
    for node in pipeline.nodes:
        if node.id in costs:
            found[node.id] = costs[node.id]
            continue
        given = node.config.get(COST_FIELD, default)
        if type(given) is not int or not 0 <= given <= MAX_CREDITS:
            raise HubError(
                "bad_request",
                f"node {node.id!r}: config.{COST_FIELD} is not an integer of 0..{MAX_CREDITS}",
            )
        found[node.id] = given
    return found


class RunNode(msgspec.Struct, kw_only=True):
    """One node of a run: the artifact's node and its job's state."""

    id: str
    type: str
    label: str | None
    upstream: list[str]
    """The nodes whose outputs it takes (the graph's edges into it)."""
    job_id: str
    state: NodeState


class PipelineRun(msgspec.Struct, kw_only=True):
    """A run of a pipeline artifact at one version, as the session sees it."""

    id: str
    session_id: str
    artifact_id: int
    artifact_version: int
    title: str
    """The artifact's title when the run started."""
    pool_id: str
    requested_by: str
    requested_role: Role
    client_run_id: str | None = None
    """The requester's id for it: a start retried with it returns this run (absent
    from runs of hubs before it existed)."""
    status: RunStatus
    cancelled_by: str | None
    cost_reserved: int
    """What its nodes' jobs reserved when it started (the sum of their estimates)."""
    nodes: list[RunNode]
    """In the artifact's node order."""
    log_count: int
    created_at: datetime
    finished_at: datetime | None
    updated_at: datetime


class RunLogEntry(msgspec.Struct, kw_only=True):
    """One line of a run's execution log: a node's (or, with `node` null, the run's)
    new status, with its result."""

    seq: int
    node: str | None
    status: str
    """A node's: `queued`, `succeeded`, `failed`, `timed_out`, `cancelled`, `skipped`;
    the run's: `running` (started), `succeeded`, `failed`, `cancelled`."""
    result: Any
    """A node's: `job_id`, and once ended `charged` and `error` (its output is its
    job's); the run's start: `cost_reserved`; its end: null."""
    at: datetime
