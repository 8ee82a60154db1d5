"""What the compute tests share: a person with a verified agent, a session it runs
(with agent B and an observer), a pool of the person's that the session draws on, and
runner keys; and the check that a pool's balance is its ledger's sum."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from tests.helpers import HubClient
from tests.web.test_profiles import agent_key, new_agent, person


@dataclass
class Setup:
    user: str
    """The person's user key."""
    session: dict[str, Any]
    """id, a, b, obs (tokens) as `HubClient.session_with_b` gives them."""
    pool: str
    runners: dict[str, str] = field(default_factory=dict)


async def call_ok(hub: HubClient, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    got, answer = await hub.call(method, path, **kw)
    assert got == status, (got, answer)
    return answer


async def setup(hub: HubClient, credits: int = 1000, kinds: tuple[str, ...] = ("echo",)) -> Setup:
    """A person, their verified agent running a session (with B and an observer), a pool
    of theirs with `credits` that the session draws on, and a runner key for `kinds`."""
    user = await person(hub)
    agent = await new_agent(hub, user)
    key = await agent_key(hub, user, agent["slug"])
    created = await call_ok(hub, "POST", "/api/sessions", 201, token=key["token"], json={})
    code = created["invite_code"]
    body = {"invite_code": code, "agent_id": "bee"}
    joined = await call_ok(hub, "POST", "/api/join", 201, json=body)
    session = {
        "id": created["session"]["id"],
        "a": created["agent_token"],
        "b": joined["token"],
        "obs": created["observer_token"],
    }
    pool = await call_ok(hub, "POST", "/api/pools", 201, token=user, json={"name": "lab"})
    if credits:
        await grant(hub, user, pool["id"], credits)
    await call_ok(
        hub,
        "PUT",
        f"/api/sessions/{session['id']}/pool",
        token=session["a"],
        json={"pool_id": pool["id"]},
    )
    made = Setup(user=user, session=session, pool=pool["id"])
    made.runners["main"] = await runner_key(hub, user, list(kinds))
    return made


async def grant(hub: HubClient, user: str, pool_id: str, amount: int) -> dict[str, Any]:
    path = f"/api/pools/{pool_id}/grants"
    return await call_ok(hub, "POST", path, token=user, json={"amount": amount})  # type: ignore[no-any-return]


async def runner_key(hub: HubClient, user: str, kinds: list[str], name: str = "r") -> str:
    body = {"name": name, "kinds": kinds}
    made = await call_ok(hub, "POST", "/api/runner-keys", 201, token=user, json=body)
    assert made["token"].startswith("rnk_")
    return str(made["token"])


async def create_job(
    hub: HubClient, s: Setup, token: str | None = None, **body: Any
) -> tuple[int, Any]:
    return await hub.call(
        "POST",
        f"/api/sessions/{s.session['id']}/jobs",
        token=token or s.session["a"],
        json={"kind": "echo", **body},
    )


async def claim(hub: HubClient, key: str, **body: Any) -> Any:
    answer = await call_ok(hub, "POST", "/api/runner/claim", token=key, json=body)
    return answer["claimed"]


async def report(hub: HubClient, key: str, job_id: str, what: str, **body: Any) -> tuple[int, Any]:
    return await hub.call("POST", f"/api/runner/jobs/{job_id}/{what}", token=key, json=body)


async def ledger_matches(db: asyncpg.Connection, pool_id: str) -> dict[str, int]:
    """Assert the pool's balance, reservations and spending equal its ledger's sums;
    returns them."""
    row = await db.fetchrow(
        """SELECT p.balance, p.reserved, p.spent,
                  coalesce(sum(l.amount), 0) AS amounts,
                  coalesce(sum(l.reserved_change), 0) AS reservations,
                  coalesce(sum(-l.reserved_change) FILTER (WHERE l.kind = 'settle'), 0)
                    - coalesce(sum(l.amount) FILTER (WHERE l.kind = 'refund'), 0) AS charges
             FROM compute_pools p LEFT JOIN compute_ledger l ON l.pool_id = p.id
            WHERE p.id = $1 GROUP BY p.id""",
        pool_id,
    )
    assert row is not None
    assert row["balance"] == row["amounts"], dict(row)
    assert row["reserved"] == row["reservations"], dict(row)
    assert row["spent"] == row["charges"], dict(row)
    held = await db.fetchval(
        "SELECT coalesce(sum(cost_reserved), 0) FROM compute_jobs"
        " WHERE pool_id = $1 AND status IN ('queued', 'running')",
        pool_id,
    )
    assert row["reserved"] == held, (dict(row), held)
    return {"balance": row["balance"], "reserved": row["reserved"], "spent": row["spent"]}
