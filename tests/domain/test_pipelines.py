"""How a pipeline run advances: a node is queued once every upstream node succeeded,
never twice; a node that does not succeed skips everything downstream of it while
independent branches go on; the run ends succeeded, failed or cancelled."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest

from hub.domain.artifacts import Pipeline
from hub.domain.pipelines import (
    Graph,
    NodeState,
    advance,
    cancel,
    graph_of,
    node_input,
    run_status,
)


def pipeline(edges: list[tuple[str, str]], nodes: str) -> Pipeline:
    return msgspec.convert(
        {
            "kind": "pipeline",
            "nodes": [{"id": n, "type": f"t-{n}", "config": {"n": n}} for n in nodes],
            "edges": [{"source": s, "target": t} for s, t in edges],
        },
        Pipeline,
    )


DIAMOND = pipeline([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")], "abcd")


def test_topological_order_keeps_the_artifacts_node_order_among_ties() -> None:
    graph = graph_of(pipeline([("c", "a"), ("b", "a")], "abc"))
    assert graph.order == ("b", "c", "a")
    assert graph.upstream["a"] == ("c", "b")
    assert graph.downstream["b"] == ("a",)


def test_a_repeated_edge_counts_once() -> None:
    graph = graph_of(pipeline([("a", "b"), ("a", "b")], "ab"))
    assert graph.upstream["b"] == ("a",)
    step = advance(graph, {"a": "succeeded"})
    assert step.queue == ("b",)


def test_diamond_runs_each_node_once_in_order() -> None:
    graph = graph_of(DIAMOND)
    states: dict[str, NodeState] = {}
    first = advance(graph, states)
    assert first.queue == ("a",) and first.skip == () and first.status == "running"
    states["a"] = "queued"
    assert advance(graph, states).queue == ()  # nothing new while a is queued
    states["a"] = "succeeded"
    second = advance(graph, states)
    assert second.queue == ("b", "c")
    states.update(b="running", c="running")
    states["b"] = "succeeded"
    assert advance(graph, states).queue == ()  # d waits for c too
    states["c"] = "succeeded"
    third = advance(graph, states)
    assert third.queue == ("d",)
    states["d"] = "succeeded"
    last = advance(graph, states)
    assert last.queue == () and last.skip == () and last.status == "succeeded"


@pytest.mark.parametrize("ending", ["failed", "timed_out", "cancelled"])
def test_a_node_that_does_not_succeed_skips_its_downstream_only(ending: NodeState) -> None:
    # a → b → d, a → c; e alone. b fails: d is skipped; c and e still run.
    graph = graph_of(pipeline([("a", "b"), ("b", "d"), ("a", "c")], "abcde"))
    states: dict[str, NodeState] = {"a": "succeeded", "b": ending, "e": "running"}
    step = advance(graph, states)
    assert step.queue == ("c",)
    assert step.skip == ("d",)
    assert step.status == "running"
    states.update(c="succeeded", d="skipped", e="succeeded")
    assert advance(graph, states).status == "failed"


def test_skipping_reaches_every_node_downstream_transitively() -> None:
    graph = graph_of(pipeline([("a", "b"), ("b", "c"), ("c", "d"), ("x", "d")], "abcdx"))
    step = advance(graph, {"a": "failed", "x": "succeeded"})
    assert step.skip == ("b", "c", "d")
    assert step.queue == ()
    assert step.status == "failed"


def test_advancing_is_idempotent() -> None:
    graph = graph_of(DIAMOND)
    states: dict[str, NodeState] = {"a": "succeeded"}
    step = advance(graph, states)
    for node in step.queue:
        states[node] = "queued"
    for node in step.skip:
        states[node] = "skipped"
    again = advance(graph, states)
    assert again.queue == () and again.skip == ()


def test_cancelling_stops_active_nodes_and_skips_pending_ones() -> None:
    graph = graph_of(DIAMOND)
    states: dict[str, NodeState] = {"a": "succeeded", "b": "running", "c": "queued"}
    stop, skip = cancel(graph, states)
    assert stop == ["b", "c"]
    assert skip == ["d"]
    states.update(b="cancelled", c="cancelled", d="skipped")
    assert run_status(states, cancelled=True) == "cancelled"
    # a cancelled run queues nothing more, even where upstream succeeded
    assert advance(graph, {"a": "succeeded"}, cancelled=True).queue == ()


def test_run_status() -> None:
    assert run_status({"a": "pending"}) == "running"
    assert run_status({"a": "succeeded", "b": "queued"}) == "running"
    assert run_status({"a": "succeeded", "b": "succeeded"}) == "succeeded"
    assert run_status({"a": "succeeded", "b": "skipped"}) == "failed"
    assert run_status({"a": "cancelled", "b": "skipped"}, cancelled=True) == "cancelled"


def test_a_nodes_input_carries_its_config_and_its_upstream_outputs() -> None:
    graph = graph_of(DIAMOND)
    outputs: dict[str, Any] = {"a": {"x": 1}, "b": [1, 2], "c": {"y": 2}}
    assert node_input(DIAMOND, graph, "d", outputs) == {
        "node": "d",
        "type": "t-d",
        "config": {"n": "d"},
        "upstream": {"b": [1, 2], "c": {"y": 2}},
    }
    assert node_input(DIAMOND, graph, "a", outputs)["upstream"] == {}


def simulate(graph: Graph, rng: random.Random, fail: set[str]) -> tuple[list[str], str]:
    """Runs a pipeline with nodes finishing in a random order; returns the order in
    which nodes were queued and the run's final status."""
    states: dict[str, NodeState] = {}
    queued: list[str] = []
    while True:
        step = advance(graph, states)
        for node in step.skip:
            states[node] = "skipped"
        for node in step.queue:
            assert node not in queued, f"{node} queued twice"
            for up in graph.upstream[node]:
                assert states[up] == "succeeded", f"{node} queued before {up} succeeded"
            states[node] = "queued"
            queued.append(node)
        active = [n for n, s in states.items() if s == "queued"]
        if not active:
            return queued, step.status
        done = rng.choice(active)
        states[done] = "failed" if done in fail else "succeeded"


def test_random_runs_keep_every_rule() -> None:
    """Random DAGs run with random finishing orders and failures: a node is queued
    at most once and only after its upstream succeeded, exactly the nodes with no
    unsuccessful ancestor run, and the status says whether all succeeded."""
    for seed in range(300):
        rng = random.Random(seed)
        names = [f"n{i}" for i in range(rng.randint(1, 12))]
        edges = [
            (names[i], names[j])
            for i in range(len(names))
            for j in range(i + 1, len(names))
            if rng.random() < 0.3
        ]
        rng.shuffle(names)  # the artifact's node order need not be topological
        graph = graph_of(_named(names, edges))
        fail = {n for n in names if rng.random() < 0.15}
        queued, status = simulate(graph, rng, fail)
        ancestors = _ancestors(graph)
        expected = {n for n in names if not (ancestors[n] & fail)}
        assert set(queued) == expected, seed
        assert status == ("succeeded" if not fail & expected else "failed"), seed


def _named(names: list[str], edges: list[tuple[str, str]]) -> Pipeline:
    return msgspec.convert(
        {
            "kind": "pipeline",
            "nodes": [{"id": n, "type": "step"} for n in names],
            "edges": [{"source": s, "target": t} for s, t in edges],
        },
        Pipeline,
    )


def _ancestors(graph: Graph) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for node in graph.order:
        found[node] = set()
        for up in graph.upstream[node]:
            found[node] |= {up} | found[up]
    return found


def test_a_nodes_cost_comes_from_the_request_then_its_config_then_the_default() -> None:
    """`costs[node]` wins over the node's `config.estimated_cost`, which wins over the
    default; a cost naming no node, or a config cost that is no integer, is refused."""
    from hub.domain.pipelines import node_costs
    from hub.errors import HubError

    flow = msgspec.convert(
        {
            "kind": "pipeline",
            "nodes": [
                {"id": "a", "type": "x", "config": {"estimated_cost": 7}},
                {"id": "b", "type": "x", "config": {"estimated_cost": 7}},
                {"id": "c", "type": "x"},
            ],
        },
        Pipeline,
    )
    assert node_costs(flow, {"b": 1}, 3) == {"a": 7, "b": 1, "c": 3}
    with pytest.raises(HubError, match="names no node"):
        node_costs(flow, {"z": 1}, 0)
    for bad in (1.5, "7", True, -1, None):
        odd = msgspec.convert(
            {
                "kind": "pipeline",
                "nodes": [{"id": "a", "type": "x", "config": {"estimated_cost": bad}}],
            },
            Pipeline,
        )
        with pytest.raises(HubError, match="estimated_cost"):
            node_costs(odd, {}, 0)


def test_a_node_runs_only_if_its_type_is_a_job_kind_and_waiting_reads_pending() -> None:
    """A node type with spaces or capitals cannot be a job kind (`bad_request`); a job
    `waiting` for its upstream nodes is a `pending` node, any other status its own."""
    from hub.domain.pipelines import check_runnable, node_state
    from hub.errors import HubError

    check_runnable(DIAMOND)
    odd = pipeline([], "a")
    odd.nodes[0].type = "Fold Protein"
    with pytest.raises(HubError, match="not a job kind"):
        check_runnable(odd)
    assert node_state("waiting") == "pending"
    assert node_state("skipped") == "skipped" and node_state("running") == "running"
