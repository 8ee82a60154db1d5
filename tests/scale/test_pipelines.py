"""Pipeline runs across real `hub serve` processes on one PostgreSQL: nodes ending at
once through two processes queue their common downstream node exactly once; a cancel
racing the nodes' results through both processes never deadlocks nor leaves a node
behind, and the ledger equals the balance."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import asyncpg
from aiohttp import ClientSession

from tests.compute_helpers import Setup, call_ok, claim, ledger_matches, report, setup
from tests.helpers import HubClient
from tests.scale.conftest import client_for

MIDDLE = [f"b{i}" for i in range(1, 9)]
FAN = {
    "kind": "pipeline",
    "nodes": [
        {"id": "a", "type": "prep"},
        *({"id": b, "type": "fold"} for b in MIDDLE),
        {"id": "d", "type": "rank"},
    ],
    "edges": [
        *({"source": "a", "target": b} for b in MIDDLE),
        *({"source": b, "target": "d"} for b in MIDDLE),
    ],
}


async def fan(hub: HubClient, s: Setup) -> int:
    body = {
        "title": "fan",
        "data": FAN,
        "message": {"client_msg_id": "fan", "content": "a fan"},
    }
    made = await call_ok(
        hub, "POST", f"/api/sessions/{s.session['id']}/artifacts", 201, token=s.session["a"],
        json=body,
    )  # fmt: skip
    return int(made["id"])


async def start(hub: HubClient, s: Setup, artifact_id: int) -> dict[str, Any]:
    body = {"artifact_id": artifact_id, "costs": {"a": 5, "d": 5}}
    path = f"/api/sessions/{s.session['id']}/pipeline-runs"
    return await call_ok(hub, "POST", path, 201, token=s.session["a"], json=body)  # type: ignore[no-any-return]


async def test_nodes_ending_at_once_on_two_processes_queue_their_downstream_once(
    hubs: Any, http: ClientSession, postgres: Any
) -> None:
    """Ten runs of a → (b1 … b8) → d: the eight middle results are reported at once,
    alternately through each process; d is queued exactly once each time with all
    eight outputs, and every run succeeds."""
    p1, p2 = await hubs(2)
    c1, c2 = client_for(http, p1), client_for(http, p2)
    s = await setup(c1, credits=1000, kinds=("prep", "fold", "rank"))
    key = s.runners["main"]
    art = await fan(c1, s)
    for _ in range(10):
        run = await start(c2, s, art)
        root = await claim(c1, key, kinds=["prep"])
        assert (await report(c2, key, root["job"]["id"], "result", attempt=1,
                             status="succeeded"))[0] == 200  # fmt: skip
        held = [await claim(c1, key, kinds=["fold"]) for _ in MIDDLE]
        answers = await asyncio.gather(
            *(
                report(c1 if i % 2 else c2, key, h["job"]["id"], "result", attempt=1,
                       status="succeeded", output={"n": h["job"]["input"]["node"]})
                for i, h in enumerate(held)
            )
        )  # fmt: skip
        assert [code for code, _ in answers] == [200] * len(MIDDLE), answers
        path = f"/api/sessions/{s.session['id']}/pipeline-runs/{run['id']}"
        detail = await call_ok(c1, "GET", path, token=s.session["a"])
        d = detail["jobs"][-1]
        assert d["status"] == "queued"
        assert d["input"]["upstream"] == {b: {"n": b} for b in MIDDLE}
        assert Counter((e["node"], e["status"]) for e in detail["log"])[("d", "queued")] == 1
        last = await claim(c2, key, kinds=["rank"])
        assert last["job"]["id"] == d["id"]
        await report(c1, key, d["id"], "result", attempt=1, status="succeeded")
        detail = await call_ok(c2, "GET", path, token=s.session["a"])
        assert detail["run"]["status"] == "succeeded"
    db = await asyncpg.connect(postgres.url)
    try:
        assert await ledger_matches(db, s.pool) == {"balance": 900, "reserved": 0, "spent": 100}
    finally:
        await db.close()


async def test_a_cancel_racing_the_nodes_results_on_two_processes_stays_exact(
    hubs: Any, http: ClientSession, postgres: Any
) -> None:
    """Ten runs: while the eight middle nodes report through both processes, agent A
    cancels the run through each process at once. No request fails otherwise than
    `lease_lost` (a result after the cancel) or `invalid_transition` (the second
    cancel); the run ends cancelled, every node ended (d skipped, or cancelled if all
    eight results came first and queued it), and nothing stays reserved."""
    p1, p2 = await hubs(2)
    c1, c2 = client_for(http, p1), client_for(http, p2)
    s = await setup(c1, credits=1000, kinds=("prep", "fold", "rank"))
    key, a = s.runners["main"], s.session["a"]
    art = await fan(c1, s)
    for _ in range(10):
        run = await start(c1, s, art)
        root = await claim(c2, key, kinds=["prep"])
        await report(c1, key, root["job"]["id"], "result", attempt=1, status="succeeded")
        held = [await claim(c1, key, kinds=["fold"]) for _ in MIDDLE]
        cancel = f"/api/sessions/{s.session['id']}/pipeline-runs/{run['id']}/cancel"
        answers = await asyncio.gather(
            *(
                report(c1 if i % 2 else c2, key, h["job"]["id"], "result", attempt=1,
                       status="succeeded")
                for i, h in enumerate(held)
            ),
            c1.call("POST", cancel, token=a),
            c2.call("POST", cancel, token=a),
        )  # fmt: skip
        results, cancels = answers[: len(MIDDLE)], answers[len(MIDDLE) :]
        assert {(code, body.get("code") if code != 200 else None) for code, body in results} <= {
            (200, None),
            (409, "lease_lost"),
        }, results
        assert sorted(code for code, _ in cancels) == [200, 409], cancels
        path = f"/api/sessions/{s.session['id']}/pipeline-runs/{run['id']}"
        detail = await call_ok(c2, "GET", path, token=a)
        assert detail["run"]["status"] == "cancelled"
        states = {n["id"]: n["state"] for n in detail["run"]["nodes"]}
        assert states["a"] == "succeeded"
        assert {states[b] for b in MIDDLE} <= {"succeeded", "cancelled"}
        # d was queued only if every middle node's result came before the cancel
        every = all(states[b] == "succeeded" for b in MIDDLE)
        assert states["d"] == ("cancelled" if every else "skipped")
        assert detail["log"][-1]["status"] == "cancelled"
    assert await claim(c1, key) is None
    db = await asyncpg.connect(postgres.url)
    try:
        got = await ledger_matches(db, s.pool)
        assert got["reserved"] == 0 and got["balance"] + got["spent"] == 1000
    finally:
        await db.close()
