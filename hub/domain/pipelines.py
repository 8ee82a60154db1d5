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
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

import msgspec

from hub.domain.artifacts import Pipeline

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
        "upstream": {u: outputs.get(u) for u in graph.upstream[node_id]},
    }
