"""Jobs and the pool on the session page, in a real browser under the production
Content-Security-Policy, driven by a real hub and the SDK's `Runner` claiming and
reporting: a job appears queued, runs with its progress and its log streaming (bounded,
following the end unless the reader scrolled up, hostile text kept as text), succeeds
with its cost, and the pool's balance follows; agent A cancels a running job from the
page, and an observer is shown no Cancel button."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Browser, Page, WebSocketRoute, expect

from hub.client import Result, Runner, RunningJob
from tests.compute_helpers import call_ok, grant, runner_key
from tests.helpers import HubClient
from tests.web.conftest import page_hub
from tests.web.test_attachments_page import upload
from tests.web.test_gallery_page import SCORES, artifact, message
from tests.web.test_page import PHONE, WAIT, assert_clean, enter, open_page, screenshot
from tests.web.test_profiles import agent_key, new_agent, person

HOSTILE = "<img src=x onerror=window.pwned=1>"
TIMEOUT = 20.0
# The reader scrolls the log up; resolves once the page has seen the scroll.
SCROLL_UP = """el => new Promise((done) => {
  el.scrollTop = 40;
  requestAnimationFrame(() => requestAnimationFrame(done));
})"""


@dataclass
class Lab:
    """A person's verified agent A running a session (agent B joined) that draws on a
    pool of theirs, and a runner key of theirs for `fold.protein`."""

    user: str
    sid: str
    invite: str
    a: str
    a_id: str
    b: str
    pool: str
    runner: str


async def lab(hub: HubClient, credits: int = 1000) -> Lab:
    user = await person(hub)
    agent = await new_agent(hub, user)
    key = await agent_key(hub, user, agent["slug"])
    made = await call_ok(hub, "POST", "/api/sessions", 201, token=key["token"], json={})
    sid = made["session"]["id"]
    body = {"invite_code": made["invite_code"], "agent_id": "bee"}
    joined = await call_ok(hub, "POST", "/api/join", 201, json=body)
    pool = await call_ok(hub, "POST", "/api/pools", 201, token=user, json={"name": "lab"})
    await grant(hub, user, pool["id"], credits)
    choose = {"pool_id": pool["id"]}
    await call_ok(hub, "PUT", f"/api/sessions/{sid}/pool", token=made["agent_token"], json=choose)
    return Lab(
        user=user,
        sid=sid,
        invite=made["invite_code"],
        a=made["agent_token"],
        a_id=made["participant_id"],
        b=joined["token"],
        pool=pool["id"],
        runner=await runner_key(hub, user, ["fold.protein"]),
    )


async def queue(hub: HubClient, s: Lab, cost: int) -> str:
    body = {"kind": "fold.protein", "input": {"sequence": "MKTAYIAKQR"}, "estimated_cost": cost}
    job = await call_ok(hub, "POST", f"/api/sessions/{s.sid}/jobs", 201, token=s.a, json=body)
    return str(job["id"])


@contextlib.asynccontextmanager
async def running(hub: HubClient, s: Lab, handler: Any) -> AsyncIterator[Runner]:
    """The SDK's Runner serving the lab's jobs until the block ends."""
    runner = Runner(hub.base, s.runner, kinds=["fold.protein"], idle_poll=0.1)
    task = asyncio.create_task(runner.run(handler))
    try:
        yield runner
    finally:
        runner.stop()
        await asyncio.wait_for(task, TIMEOUT)


async def open_as_agent(browser: Browser, hub: HubClient, s: Lab, **context: Any) -> Page:
    """The session page holding agent A's own token (as a page opened by agent A's
    program or its person would)."""
    page = await open_page(browser, f"{hub.base}/", **context)
    creds = {"code": s.invite, "token": s.a, "sessionId": s.sid, "participantId": s.a_id}
    await page.evaluate("creds => sessionStorage.setItem('hub.observer', creds)", json.dumps(creds))
    await page.goto(f"{hub.base}/join/{s.invite}")
    await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
    return page


async def expect_pool(page: Page, balance: int, reserved: int, spent: int) -> None:
    await expect(page.locator("#pool .pool-balance dd")).to_have_text(f"{balance:,}", timeout=WAIT)
    await expect(page.locator("#pool .pool-reserved dd")).to_have_text(f"{reserved:,}")
    await expect(page.locator("#pool .pool-spent dd")).to_have_text(f"{spent:,}")


async def log_at_end(page: Page, job_id: str) -> bool:
    return bool(
        await page.locator(f"#job-{job_id} .job-log").evaluate(
            "el => el.scrollTop + el.clientHeight >= el.scrollHeight - 8"
        )
    )


async def test_a_job_runs_live_on_the_page_with_its_log_cost_and_the_pool(
    database_url: str, browser: Browser
) -> None:
    """An observer watches a job queue (the pool reserves its estimate), run with its
    progress and a log streaming from the SDK's Runner (hostile text stays text, the DOM
    keeps the last 500 lines, the view follows the end unless scrolled up), and succeed
    with its charge, the pool's balance following; a phone in dark mode sees the same."""
    async with page_hub(database_url, job_lease_seconds=3.0, job_sweep_interval=0.2) as hub:
        s = await lab(hub)
        page = await open_page(browser, f"{hub.base}/join/{s.invite}")
        await enter(page, "Ada")
        await expect(page.locator("#jobs-empty")).to_be_visible()
        await expect_pool(page, 1000, 0, 0)
        await expect(page.locator("#pool")).to_contain_text("lab")

        job_id = await queue(hub, s, 40)
        card = page.locator(f"#job-{job_id}")
        await expect(card.locator(".job-status")).to_have_text("queued", timeout=WAIT)
        await expect(card).to_contain_text("fold.protein")
        await expect(card.locator(".job-who")).to_contain_text("Agent A")
        await expect(card.locator(".job-facts")).to_contain_text("up to 3 attempts")
        await expect(card.locator(".job-facts")).to_contain_text("40 credits reserved")
        await expect(card.locator(".job-cancel")).to_be_hidden()  # an observer may not cancel
        await expect(page.locator("#jobs-empty")).to_be_hidden()
        await expect_pool(page, 960, 40, 0)

        scores = await artifact(
            hub, {"id": s.sid}, s.a, title="Fold scores", data=SCORES,
            message=message("m1", "Scores will go here."),
        )  # fmt: skip
        streamed, go = asyncio.Event(), asyncio.Event()

        async def fold(job: RunningJob) -> Result:
            await job.progress(30, "folding domain 1", used=5)
            job.log(f"sequence of {len(job.input['sequence'])} residues")
            job.log(HOSTILE, "warning")
            for i in range(598):
                job.log(f"step {i}")
            await job.flush()
            streamed.set()
            await go.wait()
            job.log("model written", "info")
            job.log("low confidence in loop 3", "error")
            await job.flush()
            return Result(output={"plddt": 91.2}, cost=12, artifacts=[scores["id"]])

        async with running(hub, s, fold):
            await asyncio.wait_for(streamed.wait(), TIMEOUT)
            await expect(card.locator(".job-status")).to_have_text("running", timeout=WAIT)
            await expect(card.locator("progress")).to_have_attribute("value", "30")
            await expect(card.locator(".job-percent")).to_have_text("30%")
            await expect(card.locator(".job-message")).to_have_text("folding domain 1")
            await expect(card.locator(".job-facts")).to_contain_text("attempt 1 of 3")
            await expect(card.locator(".job-facts")).to_contain_text("5 used")
            log = card.locator(".job-log")
            await expect(log).to_be_visible()  # a running job's log is open
            await expect(log.locator("li").last).to_contain_text("step 597", timeout=WAIT)
            await expect(card.locator(".job-log-box summary")).to_have_text("Log (600 lines)")
            # the DOM keeps the last 500 lines; the hostile line (#2) has scrolled out of it
            await expect(log.locator("li")).to_have_count(500)
            await expect(card.locator(".job-log-clipped")).to_have_text(
                "Showing the last 500 lines."
            )
            assert await log_at_end(page, job_id)
            await screenshot(page, "jobs-running-desktop.png", full_page=False)

            # the reader scrolls up: new lines arrive, the place is kept
            await log.evaluate(SCROLL_UP)
            assert not await log_at_end(page, job_id)
            go.set()
            await expect(card.locator(".job-status")).to_have_text("succeeded", timeout=WAIT)
            await expect(log.locator("li").last).to_contain_text("low confidence in loop 3")
            assert not await log_at_end(page, job_id)
            await expect(log.locator("li.level-error .level")).to_have_text("error")

        await expect(card.locator(".job-facts")).to_contain_text("12 charged", timeout=WAIT)
        await card.locator(".job-output summary").click()
        await expect(card.locator(".job-output-json")).to_contain_text('"plddt": 91.2')
        await card.get_by_role("button", name=f"artifact #{scores['id']}").click()
        await expect(page.locator("#artifact-view")).to_be_visible(timeout=WAIT)
        await expect(page.locator("#artifact-title")).to_have_text("Fold scores")
        await page.locator("#artifact-close").click()
        await expect_pool(page, 988, 0, 12)
        # a top-up comes with no event: the page reads the pool when it is shown again
        await grant(hub, s.user, s.pool, 12)
        await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        await expect_pool(page, 1000, 0, 12)
        activity = page.locator("#activity")
        await expect(activity).to_contain_text("finished a job (12 credits charged)")
        await expect(activity).to_contain_text("queued a fold.protein job (40 credits reserved)")

        # a page that arrives late reads the log back, the hostile line as text
        phone = await open_page(
            browser, f"{hub.base}/join/{s.invite}", **PHONE, color_scheme="dark"
        )
        await enter(phone, "Bo")
        late = phone.locator(f"#job-{job_id}")
        await expect(late.locator(".job-status")).to_have_text("succeeded", timeout=WAIT)
        await late.locator(".job-log-box summary").click()
        await expect(late.locator(".job-log li")).to_have_count(500, timeout=WAIT)
        await expect(late.locator(".job-log li").first).to_contain_text("step 100")
        reads = [url for url in phone.requests if "/log?" in url]  # type: ignore[attr-defined]
        assert len(reads) == 1 and "after=102&" in reads[0], reads  # only the tail is read
        await expect_pool(phone, 1000, 0, 12)
        await late.scroll_into_view_if_needed()
        await screenshot(phone, "jobs-phone-dark.png", full_page=False)
        for p in (page, phone):
            assert await p.evaluate("window.pwned") is None
            await assert_clean(p, hub.base)


async def test_hostile_log_text_stays_text(database_url: str, browser: Browser) -> None:
    """A runner's log line and progress message of markup are shown as the text they
    are: no element is made of them and no handler runs."""
    async with page_hub(database_url, job_lease_seconds=3.0, job_sweep_interval=0.2) as hub:
        s = await lab(hub)
        page = await open_page(browser, f"{hub.base}/join/{s.invite}")
        await enter(page, "Ada")
        job_id = await queue(hub, s, 10)

        async def hostile(job: RunningJob) -> None:
            await job.progress(50, HOSTILE)
            job.log(HOSTILE)
            job.log("<script>window.pwned=2</script>", "error")
            await job.flush()
            raise RuntimeError(HOSTILE)

        async with running(hub, s, hostile):
            card = page.locator(f"#job-{job_id}")
            await expect(card.locator(".job-status")).to_have_text("failed", timeout=WAIT)
        await expect(card.locator(".job-error")).to_have_text(HOSTILE)
        await card.locator(".job-log-box summary").click()
        await expect(card.locator(".job-log .text")).to_have_text(
            [HOSTILE, "<script>window.pwned=2</script>"], timeout=WAIT
        )
        await expect(card.locator(".job-message")).to_have_text(HOSTILE)
        assert await page.locator("#jobs img, #jobs script").count() == 0
        assert await page.evaluate("window.pwned") is None
        await assert_clean(page, hub.base)


async def test_agent_a_cancels_a_running_job_from_the_page(
    database_url: str, browser: Browser
) -> None:
    """On agent A's page a running job has a Cancel button; an observer's page has
    none (and the hub refuses an observer anyway). Cancelling ends the job for every
    page, stops the runner's handler and charges what it reported as used."""
    async with page_hub(database_url, job_lease_seconds=1.5, job_sweep_interval=0.2) as hub:
        s = await lab(hub, credits=100)
        agent = await open_as_agent(browser, hub, s, color_scheme="dark")
        watcher = await open_page(browser, f"{hub.base}/join/{s.invite}")
        await enter(watcher, "Ada")
        started, stopped = asyncio.Event(), asyncio.Event()

        async def hold(job: RunningJob) -> None:
            await job.progress(10, "warming up", used=3)
            started.set()
            try:
                await asyncio.Event().wait()
            finally:
                stopped.set()

        job_id = await queue(hub, s, 30)
        async with running(hub, s, hold):
            await asyncio.wait_for(started.wait(), TIMEOUT)
            mine, theirs = agent.locator(f"#job-{job_id}"), watcher.locator(f"#job-{job_id}")
            for card in (mine, theirs):
                await expect(card.locator(".job-status")).to_have_text("running", timeout=WAIT)
            await expect(mine.locator(".job-cancel")).to_be_visible()
            await expect(mine.locator(".job-cancel")).to_have_accessible_name(
                "Cancel the fold.protein job"
            )
            await expect(theirs.locator(".job-cancel")).to_be_hidden()
            await expect_pool(agent, 70, 30, 0)
            await screenshot(agent, "jobs-cancel-desktop-dark.png", full_page=False)

            status, refused = await hub.call(
                "POST",
                f"/api/sessions/{s.sid}/jobs/{job_id}/cancel",
                token=(await hub.join(s.invite, role="observer"))[1]["token"],
            )
            assert (status, refused["code"]) == (403, "forbidden")

            await mine.locator(".job-cancel").click()
            for card in (mine, theirs):
                await expect(card.locator(".job-status")).to_have_text("cancelled", timeout=WAIT)
            await expect(mine.locator(".job-cancel")).to_be_hidden()
            said = "The fold.protein job is cancelled."  # to a screen reader
            await expect(watcher.locator("#jobs-said")).to_have_text(said)
            await asyncio.wait_for(stopped.wait(), TIMEOUT)  # the runner's handler stopped
        for p in (agent, watcher):
            await expect(p.locator(f"#job-{job_id} .job-facts")).to_contain_text("3 charged")
            await expect_pool(p, 97, 0, 3)
        await expect(agent.locator("#activity")).to_contain_text("cancelled a job")
        for p in (agent, watcher):
            await assert_clean(p, hub.base)


async def test_a_page_that_was_away_catches_up_on_a_job_and_its_log(
    database_url: str, browser: Browser
) -> None:
    """While the page cannot reach the hub a job runs, logs and succeeds; back online,
    the page shows it finished with every log line once, in order, the file it made (a
    download) and the pool's new balance."""
    async with page_hub(database_url, job_lease_seconds=3.0, job_sweep_interval=0.2) as hub:
        s = await lab(hub, credits=100)
        page = await open_page(browser, f"{hub.base}/join/{s.invite}")
        await enter(page, "Ada")
        job_id = await queue(hub, s, 20)
        card = page.locator(f"#job-{job_id}")
        await expect(card.locator(".job-status")).to_have_text("queued", timeout=WAIT)
        _, joined = await hub.join(s.invite, role="observer")
        watcher = await hub.connect(joined["token"])
        made_by_a = {"id": s.sid, "a": s.a}
        report = await upload(hub, made_by_a, b"fold ok\n", "report.txt", "text/plain")

        away = True

        async def cut(ws: WebSocketRoute) -> None:
            if away:
                await ws.close(code=4000, reason="the network is down")
            else:
                ws.connect_to_server()

        await page.route_web_socket(lambda url: "/ws?" in url, cut)
        await page.evaluate("window.hubDropConnection()")
        await expect(page.locator("#connection")).to_contain_text("reconnecting", timeout=WAIT)

        async def work(job: RunningJob) -> Result:
            await job.progress(60, "halfway", used=4)
            for i in range(30):
                job.log(f"line {i}")
            return Result(output={"ok": True}, cost=9, attachments=[report])

        async with running(hub, s, work):
            while (await watcher.next("job"))["job"]["status"] != "succeeded":
                pass
        await watcher.close()

        away = False
        await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
        await expect(card.locator(".job-status")).to_have_text("succeeded", timeout=WAIT)
        await expect(card.locator(".job-facts")).to_contain_text("9 charged")
        await expect_pool(page, 91, 0, 9)
        await card.locator(".job-log-box summary").click()
        await expect(card.locator(".job-log .text")).to_have_text(
            [f"line {i}" for i in range(30)], timeout=WAIT
        )
        await expect(card.locator(".job-log-box summary")).to_have_text("Log (30 lines)")
        await card.locator(".job-output summary").click()
        save = card.get_by_role("button", name="report.txt (8 B)")
        async with page.expect_download() as downloading:
            await save.click()
        assert (await downloading.value).suggested_filename == "report.txt"
        await assert_clean(page, hub.base)
