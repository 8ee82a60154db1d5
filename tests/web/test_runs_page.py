"""Pipeline runs on the session page, in a real browser under the production
Content-Security-Policy, driven by a real hub and the SDK's `Runner`: a diamond run is
drawn as its graph (laid out by the vendored dagre) with each node's state changing
live as its job is queued, runs (with its progress) and succeeds; the execution log
reads in order; a failing node shows its downstream skipped; agent A cancels a run from
the page (on a phone, dark) while an observer is shown no Cancel button."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Browser, Page, expect

from hub.client import Runner, RunningJob
from tests.compute_helpers import call_ok, grant, runner_key
from tests.helpers import HubClient
from tests.web.test_gallery_page import artifact, message
from tests.web.test_page import PHONE, WAIT, assert_clean, enter, open_page, screenshot
from tests.web.test_profiles import agent_key, new_agent, person

TIMEOUT = 20.0
KINDS = ["fetch", "fold", "dock", "rank", "boom"]
DIAMOND = {
    "kind": "pipeline",
    "nodes": [
        {"id": "fetch", "type": "fetch", "label": "Fetch target"},
        {"id": "fold", "type": "fold", "label": "Fold binder"},
        {"id": "dock", "type": "dock", "label": "Dock <b>ligand</b>"},
        {"id": "rank", "type": "rank", "label": "Rank designs"},
    ],
    "edges": [
        {"source": "fetch", "target": "fold"},
        {"source": "fetch", "target": "dock"},
        {"source": "fold", "target": "rank"},
        {"source": "dock", "target": "rank"},
    ],
}


@dataclass
class Lab:
    user: str
    sid: str
    invite: str
    a: str
    a_id: str
    pool: str
    runner: str


async def lab(hub: HubClient) -> Lab:
    """A person's verified agent A running a session that draws on a pool of theirs, and
    a runner key of theirs for every kind the pipelines here use."""
    user = await person(hub)
    agent = await new_agent(hub, user)
    key = await agent_key(hub, user, agent["slug"])
    made = await call_ok(hub, "POST", "/api/sessions", 201, token=key["token"], json={})
    sid = made["session"]["id"]
    pool = await call_ok(hub, "POST", "/api/pools", 201, token=user, json={"name": "lab"})
    await grant(hub, user, pool["id"], 1000)
    choose = {"pool_id": pool["id"]}
    await call_ok(hub, "PUT", f"/api/sessions/{sid}/pool", token=made["agent_token"], json=choose)
    return Lab(
        user=user,
        sid=sid,
        invite=made["invite_code"],
        a=made["agent_token"],
        a_id=made["participant_id"],
        pool=pool["id"],
        runner=await runner_key(hub, user, KINDS),
    )


async def start_run(hub: HubClient, s: Lab, data: dict[str, Any], title: str) -> dict[str, Any]:
    flow = await artifact(
        hub, {"id": s.sid}, s.a, title=title, data=data, message=message(title, "the plan")
    )
    run = await call_ok(
        hub,
        "POST",
        f"/api/sessions/{s.sid}/pipeline-runs",
        201,
        token=s.a,
        json={"artifact_id": flow["id"], "default_cost": 10},
    )
    return run  # type: ignore[no-any-return]


async def states(page: Page, run_id: str) -> dict[str, str]:
    found: dict[str, str] = await page.eval_on_selector_all(
        f"#run-{run_id} g.node",
        "nodes => Object.fromEntries(nodes.map(n => [n.dataset.node, n.dataset.state]))",
    )
    return found


async def open_as_agent(browser: Browser, hub: HubClient, s: Lab, **context: Any) -> Page:
    """The session page holding agent A's own token."""
    page = await open_page(browser, f"{hub.base}/", **context)
    creds = {"code": s.invite, "token": s.a, "sessionId": s.sid, "participantId": s.a_id}
    await page.evaluate("creds => sessionStorage.setItem('hub.observer', creds)", json.dumps(creds))
    await page.goto(f"{hub.base}/join/{s.invite}")
    await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
    return page


class Gates:
    """A runner whose handler reports progress, then waits until its node is let go."""

    def __init__(self) -> None:
        self.go: dict[str, asyncio.Event] = {}
        self.fail: set[str] = set()

    def release(self, node: str) -> None:
        self.go.setdefault(node, asyncio.Event()).set()

    def handler(self) -> Callable[[RunningJob], Awaitable[Any]]:
        async def work(job: RunningJob) -> Any:
            node = job.input["node"]
            await job.progress(40, "working", used=1)
            await self.go.setdefault(node, asyncio.Event()).wait()
            if node in self.fail:
                raise RuntimeError(f"{node} broke")
            return {"node": node}

        return work


async def test_a_run_is_drawn_as_its_graph_with_each_nodes_state_live(
    site: HubClient, browser: Browser
) -> None:
    """A diamond run shows as a graph of four nodes and four edges; as the runner takes
    each node its box says running (with its progress), then done, the downstream node
    queued only once both upstream nodes are done; the run ends succeeded with its log
    in order; label markup stays text. Screenshots: desktop, mid-run and done."""
    s = await lab(site)
    page = await open_page(browser, f"{site.base}/join/{s.invite}")
    await enter(page, "Ada")
    await expect(page.locator("#runs-panel")).to_be_hidden()
    run = await start_run(site, s, DIAMOND, "Binder design")
    card = page.locator(f"#run-{run['id']}")
    await expect(card.locator("g.node")).to_have_count(4, timeout=WAIT)
    await expect(card.locator("path.edge")).to_have_count(4)
    await expect(card.locator(".run-status")).to_have_text("running")
    await expect(card.locator(".run-facts")).to_contain_text("0/4 steps · 40 credits reserved")
    assert await states(page, run["id"]) == {
        "fetch": "queued", "fold": "pending", "dock": "pending", "rank": "pending",
    }  # fmt: skip
    await expect(card.locator("g.node[data-node='dock'] text.label")).to_have_text(
        "Dock <b>ligand</b>"
    )
    await expect(card.locator(".run-cancel")).to_be_hidden()  # an observer's page

    gates = Gates()
    runner = Runner(site.base, s.runner, concurrency=2)
    task = asyncio.create_task(runner.run(gates.handler()))
    try:
        fetch = card.locator("g.node[data-node='fetch']")
        await expect(fetch).to_have_attribute("data-state", "running", timeout=WAIT)
        await expect(fetch.locator("text.state")).to_have_text("running 40%", timeout=WAIT)
        gates.release("fetch")
        for node in ("fold", "dock"):
            box = card.locator(f"g.node[data-node='{node}']")
            await expect(box).to_have_attribute("data-state", "running", timeout=WAIT)
        await expect(fetch).to_have_attribute("data-state", "succeeded")
        await expect(fetch.locator("text.state")).to_have_text("done")
        gates.release("fold")
        await expect(card.locator("g.node[data-node='fold']")).to_have_attribute(
            "data-state", "succeeded", timeout=WAIT
        )
        rank = card.locator("g.node[data-node='rank']")
        await expect(rank).to_have_attribute("data-state", "pending")  # dock is not done
        await expect(card.locator(".run-facts")).to_contain_text("2/4 steps")
        # the Jobs panel counts the waiting node's job as open, the finished ones not
        await expect(page.locator("#jobs-count")).to_have_text("2 open · 4 in all")
        await screenshot(page, "runs-live.png")
        gates.release("dock")
        await expect(rank).to_have_attribute("data-state", "running", timeout=WAIT)
        gates.release("rank")
        await expect(card.locator(".run-status")).to_have_text("succeeded", timeout=WAIT)
        assert set((await states(page, run["id"])).values()) == {"succeeded"}
        await expect(page.locator("#jobs-count")).to_have_text("0 open · 4 in all")
    finally:
        runner.stop()
        for node in DIAMOND["nodes"]:
            gates.release(node["id"])
        await asyncio.wait_for(task, TIMEOUT)
    await card.locator(".run-log-box summary").click()
    log = card.locator(".run-log li")
    await expect(log).to_have_count(10, timeout=WAIT)  # start, 4 x queued and done, end
    await expect(log.first).to_contain_text("run started")
    await expect(log.first).to_contain_text("40 credits reserved")
    await expect(log.last).to_contain_text("run done")
    await expect(log.nth(1)).to_contain_text("fetch queued")
    await expect(page.locator("#activity")).to_contain_text("started pipeline run " + run["id"])
    await screenshot(page, "runs-done.png")
    await assert_clean(page, site.base)


async def test_agent_a_cancels_a_run_from_the_page_and_a_failure_skips_downstream(
    site: HubClient, browser: Browser
) -> None:
    """A run whose first node fails shows its downstream skipped and ends failed; agent
    A, on a phone in the dark, cancels a second run from the page: its running node is
    cancelled and the rest skipped; an observer has no Cancel button. Screenshot: phone,
    dark."""
    s = await lab(site)
    agent = await open_as_agent(browser, site, s, **PHONE, color_scheme="dark")
    watcher = await open_page(browser, f"{site.base}/join/{s.invite}")
    await enter(watcher, "Ada")
    gates = Gates()
    gates.fail.add("fetch")
    runner = Runner(site.base, s.runner, concurrency=2)
    task = asyncio.create_task(runner.run(gates.handler()))
    try:
        broken = await start_run(site, s, DIAMOND, "Doomed design")
        gates.release("fetch")
        card = agent.locator(f"#run-{broken['id']}")
        await expect(card.locator(".run-status")).to_have_text("failed", timeout=WAIT)
        assert await states(agent, broken["id"]) == {
            "fetch": "failed", "fold": "skipped", "dock": "skipped", "rank": "skipped",
        }  # fmt: skip
        gates.fail.clear()
        gates.go.clear()
        other = await start_run(site, s, DIAMOND, "Second design")
        card = agent.locator(f"#run-{other['id']}")
        fetch = card.locator("g.node[data-node='fetch']")
        await expect(fetch).to_have_attribute("data-state", "running", timeout=WAIT)
        await expect(watcher.locator(f"#run-{other['id']} .run-cancel")).to_be_hidden()
        await card.locator(".run-cancel").click()
        await expect(card.locator(".run-status")).to_have_text("cancelled", timeout=WAIT)
        await expect(card.locator(".run-cancel")).to_be_hidden()
        assert await states(agent, other["id"]) == {
            "fetch": "cancelled", "fold": "skipped", "dock": "skipped", "rank": "skipped",
        }  # fmt: skip
        await expect(watcher.locator(f"#run-{other['id']} .run-status")).to_have_text(
            "cancelled", timeout=WAIT
        )
        await expect(watcher.locator("#activity")).to_contain_text(
            "cancelled pipeline run " + other["id"], timeout=WAIT
        )
        await card.scroll_into_view_if_needed()
        await screenshot(agent, "runs-phone-dark.png")
    finally:
        runner.stop()
        for node in DIAMOND["nodes"]:
            gates.release(node["id"])
        await asyncio.wait_for(task, TIMEOUT)
    await assert_clean(agent, site.base)
    await assert_clean(watcher, site.base)
