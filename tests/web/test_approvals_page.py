"""Approvals and interrupts on the session page, in a real browser: a pending request
shows with Approve/Reject and a comment, deciding it reaches the requester, an
interrupt reaches the agent and shows (in its own space, dismissible), the activity
panel says both live, and task states show on status messages; on a desktop and on a
dark phone."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.helpers import HubClient
from tests.web.test_page import PHONE, WAIT, assert_clean, enter, open_page, screenshot


async def ask(peer: object, description: str, content: str) -> int:
    answer = await peer.request(  # type: ignore[attr-defined]
        {
            "type": "send",
            "client_msg_id": description,
            "content": content,
            "msg_type": "action",
            "metadata": {"approval": {"description": description, "expires_in": 900}},
        }
    )
    assert answer["type"] == "ack", answer
    return int(answer["message"]["id"])


async def assert_not_covered(page: Page) -> None:
    """The interrupt notice takes its own space, over no message: it and the transcript
    do not overlap, and it is over the head or foot of no message in view."""
    covered = await page.evaluate(
        """() => {
          const box = document.getElementById("interrupt-notice");
          const notice = box.getBoundingClientRect();
          const list = document.getElementById("messages").getBoundingClientRect();
          if (notice.height === 0) return "the notice is not shown";
          const overlap = notice.top < list.bottom && list.top < notice.bottom;
          if (overlap) return "the notice overlaps the list";
          const top = Math.max(list.top, 0), bottom = Math.min(list.bottom, innerHeight);
          for (const li of document.querySelectorAll("#messages > li")) {
            const edges = li.getBoundingClientRect();
            for (const y of [edges.top + 6, edges.bottom - 6]) {
              if (y < top || y > bottom) continue;
              const hit = document.elementFromPoint(edges.left + edges.width / 2, y);
              if (box.contains(hit)) return `${li.id} is under the notice`;
            }
          }
          return null;
        }"""
    )
    assert covered is None, covered


async def test_approve_reject_and_interrupt_on_the_page(site: HubClient, browser: Browser) -> None:
    s = await site.session_with_b(name="Release")
    a, b = await site.connect(s["a"]), await site.connect(s["b"])
    await a.say("Please cut the 2.0 release.")
    await b.say("Tagging now.", msg_type="status", metadata={"state": "working"})
    first = await ask(b, "Push tag v2.0 to origin", "git push origin v2.0")

    page = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await enter(page, "Ada")
    pending = page.locator("#approvals > li")
    await expect(pending).to_have_count(1, timeout=WAIT)
    await expect(pending.first).to_contain_text("Push tag v2.0 to origin")
    await expect(page.locator("#approvals-panel")).to_be_visible()
    await expect(page.locator(".task-state.state-working")).to_have_text("working")
    await expect(page.locator(f"#approval-line-{first} .approval-status")).to_have_text("pending")
    await screenshot(page, "approvals-desktop.png", full_page=False)

    await page.locator(f"#approval-comment-{first}").fill("Ship it")
    await pending.first.locator("button.approve").click()
    event = await b.next("approval")
    assert event["approval"]["status"] == "approved"
    assert event["approval"]["comment"] == "Ship it"
    await expect(page.locator("#approvals-panel")).to_be_hidden(timeout=WAIT)
    line = page.locator(f"#approval-line-{first}")
    await expect(line).to_contain_text("approved")
    await expect(line).to_contain_text("by Ada: Ship it")
    refused = await a.request({"type": "decide", "message_id": first, "decision": "rejected"})
    assert refused["code"] == "conflict" and refused["approval"]["decided_by"]
    activity = page.locator("#activity")
    await expect(activity.locator("li").first).to_contain_text(
        f"Observer (Ada) approved request #{first}", timeout=WAIT
    )

    await page.locator("#interrupt-reason").fill("Wait: CI is red")
    await page.locator("#interrupt-button").click()
    interrupt = await b.next("interrupt")
    assert interrupt["interrupt"]["reason"] == "Wait: CI is red"
    assert interrupt["interrupt"]["target_id"] == "bee"
    notice = page.locator("#interrupt-notice")
    await expect(notice).to_contain_text("Ada interrupted", timeout=WAIT)
    await expect(notice).to_contain_text("Wait: CI is red")
    await expect(activity).to_contain_text(
        "Observer (Ada) interrupted bee: Wait: CI is red", timeout=WAIT
    )
    await a.say("Acknowledged: waiting for CI.")
    await expect(page.locator("#messages > li")).to_have_count(6, timeout=WAIT)
    await assert_not_covered(page)
    await b.say("Stopped.", msg_type="status", metadata={"state": "cancelled"})
    await expect(page.locator(".task-state.state-cancelled")).to_have_text("cancelled")
    await screenshot(page, "approvals-decided-desktop.png", full_page=False)
    await page.locator("#interrupt-dismiss").click()
    await expect(notice).to_be_hidden()
    await assert_clean(page, site.base)

    second = await ask(b, "Delete the 1.x branch", "git push origin :1.x")
    phone = await open_page(
        browser, f"{site.base}/join/{s['invite']}", **PHONE, color_scheme="dark"
    )
    await enter(phone, "Bo")
    await expect(phone.locator("#approvals > li")).to_have_count(1, timeout=WAIT)
    await expect(phone.locator(f"#approval-line-{first}")).to_contain_text("by Ada: Ship it")
    await expect(phone.locator("#interrupt-notice")).to_contain_text("Ada interrupted bee")
    await phone.locator("#interrupt-notice").scroll_into_view_if_needed()
    await assert_not_covered(phone)
    await screenshot(phone, "approvals-interrupt-phone-dark.png", full_page=False)
    await phone.locator("#approvals-panel").scroll_into_view_if_needed()
    await screenshot(phone, "approvals-phone-dark.png", full_page=False)
    await phone.locator(f"#approval-comment-{second}").fill("Keep it for now")
    await phone.locator("#approvals button.reject").click()
    decided = await b.next("approval")
    assert (decided["approval"]["message_id"], decided["approval"]["status"]) == (
        second,
        "rejected",
    )
    await expect(phone.locator("#approvals-panel")).to_be_hidden(timeout=WAIT)
    await expect(page.locator("#approvals-panel")).to_be_hidden(timeout=WAIT)
    await expect(page.locator(f"#approval-line-{second}")).to_contain_text("rejected")
    await assert_clean(phone, site.base)
