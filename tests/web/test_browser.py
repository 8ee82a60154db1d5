"""The observer page in a real browser (the system's headless Chromium, driven by
Playwright) watching two bot agents talk over websockets on a real hub."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.helpers import HubClient
from tests.web.conftest import ARTIFACTS

WAIT = 10_000  # ms, for Playwright's own waiting assertions


# Runs in every page before its own scripts: records what the Content-Security-Policy
# refused (Chromium also says so on the console, which is recorded too).
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.violatedDirective} refused ${e.blockedURI}`);
});
"""


async def open_page(browser: Browser, url: str, *, width: int = 1280, height: int = 860) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height})
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(url)
    return page


async def assert_no_csp_violation(*pages: Page) -> None:
    """Nothing on these pages was refused by the CSP, and no script error happened."""
    for page in pages:
        assert await page.evaluate("window.cspViolations") == []
        assert page.errors == []  # type: ignore[attr-defined]


def message_ids(page: Page) -> Any:
    return page.eval_on_selector_all("#messages > li", "els => els.map(e => Number(e.dataset.id))")


async def test_a_person_watches_and_steps_in(site: HubClient, browser: Browser) -> None:
    """Messages appear live and in order, presence and notes update, the observer's chat
    and note edit reach the agents, a conflicting edit keeps the person's text, and a
    dropped connection ends with the complete history."""
    s = await site.session_with_b(name="Parser rewrite")
    a, b = await site.connect(s["a"]), await site.connect(s["b"])
    plan = await a.request(
        {
            "type": "update_note",
            "title": "Plan",
            "content": "# Plan\n- parse",
            "expected_version": 0,
        }
    )
    note_id = plan["note"]["id"]
    await a.request(
        {"type": "write_file", "path": "src/parser.py", "content": "def parse(): ...\n"}
    )

    page = await open_page(browser, site.base + "/")
    await page.locator("#join-code").fill(s["invite"].lower())
    await page.locator("#join-name").fill("Ada")
    await page.locator("#join-form button").click()
    await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
    await expect(page.locator("#session-name")).to_have_text("Parser rewrite")

    # live messages, in order, each kind visibly marked
    await a.say("I'll take the tokenizer.")
    reply = await b.say("Then I write the grammar.", parent_id=1)
    await b.say("Over to you", msg_type="handoff")
    await a.say("Running tests", msg_type="status")
    await a.say("ran pytest", msg_type="action", attachments=["src/parser.py"])
    await expect(page.locator("#messages > li")).to_have_count(5, timeout=WAIT)
    assert await message_ids(page) == [1, 2, 3, 4, 5]
    await expect(page.locator("#msg-2 .reply")).to_contain_text("in reply to #1")
    await expect(page.locator("#msg-3.type-handoff .kind")).to_have_text("handoff")
    await expect(page.locator("#msg-5 .attachments")).to_contain_text("src/parser.py")
    assert reply["message"]["parent_id"] == 1

    # presence changes show up
    await b.request({"type": "set_presence", "status": "working", "activity": "writing grammar"})
    bee = page.locator('#presence li[data-participant="bee"]')
    await expect(bee).to_have_class("status-working", timeout=WAIT)
    await expect(bee).to_contain_text("writing grammar")

    # an agent's note edit appears, rendered as Markdown
    await a.request(
        {
            "type": "update_note",
            "note_id": note_id,
            "expected_version": 1,
            "content": "# Plan\n- parse\n- **test**",
        }
    )
    await expect(page.locator(f"#note-{note_id} .md strong")).to_have_text("test", timeout=WAIT)
    await expect(page.locator(f"#note-{note_id} .md h3")).to_have_text("Plan")

    # the observer's chat reaches the agents
    await page.locator("#chat-input").fill("Looks good from here!")
    await page.locator("#chat-input").press("Enter")
    await a.wait(
        lambda: any(
            f["type"] == "message" and f["message"]["author_role"] == "observer" for f in a.frames
        )
    )
    await expect(page.locator("#chat-input")).to_have_value("")
    await expect(page.locator("#msg-6 .author")).to_have_text("Ada (you)")
    await expect(page.locator("#presence")).to_contain_text("Ada")

    # the observer's note edit reaches the agents
    note = page.locator(f"#note-{note_id}")
    await note.locator("button.edit").click()
    await note.locator("textarea").fill("# Plan\n- parse\n- **test**\n- ship")
    await note.locator("button.save").click()
    await b.wait(
        lambda: any(f["type"] == "note" and "ship" in f["note"]["content"] for f in b.frames)
    )
    await expect(note.locator(".md")).to_contain_text("ship")

    # a conflicting edit shows the conflict and the current text, and keeps what was typed
    await note.locator("button.edit").click()
    await note.locator("textarea").fill("my careful rewrite")
    await a.request(
        {
            "type": "update_note",
            "note_id": note_id,
            "expected_version": 3,
            "content": "# Plan\nagent changed it",
        }
    )
    await note.locator("button.save").click()
    await expect(note.locator(".conflict")).to_be_visible(timeout=WAIT)
    await expect(note.locator(".conflict")).to_contain_text("v4")
    await expect(note.locator(".md")).to_contain_text("agent changed it")
    await expect(note.locator("textarea")).to_have_value("my careful rewrite")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "observer-conflict.png"), full_page=True)
    await note.locator("button.save").click()  # retry, knowingly replacing v4
    await a.wait(
        lambda: any(
            f["type"] == "note" and f["note"]["content"] == "my careful rewrite" for f in a.frames
        )
    )
    await expect(note.locator(".editor")).to_be_hidden()

    # a dropped connection reconnects by itself and ends with the complete history
    await page.evaluate("window.hubDropConnection()")
    for i in range(10):
        await (a if i % 2 else b).say(f"while you were away {i}")
    await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
    await expect(page.locator("#messages > li")).to_have_count(16, timeout=WAIT)
    assert await message_ids(page) == list(range(1, 17))

    await page.screenshot(path=str(ARTIFACTS / "observer-desktop.png"), full_page=True)
    phone = await open_page(browser, f"{site.base}/join/{s['invite']}", width=390, height=844)
    await phone.locator("#join-form button").click()  # the invite link asks for a name first
    await expect(phone.locator("#messages > li")).to_have_count(16, timeout=WAIT)
    await phone.screenshot(path=str(ARTIFACTS / "observer-phone.png"), full_page=True)
    await assert_no_csp_violation(page, phone)


async def test_clear_messages_for_bad_invites_and_deleted_sessions(
    site: HubClient, browser: Browser, database_url: str
) -> None:
    """A wrong or expired code and a deleted session each get a clear message on the page;
    the join form works from the keyboard alone."""
    page = await open_page(browser, site.base + "/")
    await page.keyboard.press("Tab")  # skip link
    await page.keyboard.press("Tab")
    await page.keyboard.type("nope nope 1234")
    await page.keyboard.press("Enter")
    await expect(page.locator("#join-error")).to_contain_text(
        "No session has that invite code", timeout=WAIT
    )

    expired = await site.create_session()
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE sessions SET invite_expires_at = now() WHERE id = $1", expired["session"]["id"]
        )
    finally:
        await conn.close()
    page = await open_page(browser, f"{site.base}/join/{expired['invite_code']}")
    await page.locator("#join-form button").click()
    await expect(page.locator("#join-error")).to_contain_text("expired", timeout=WAIT)

    s = await site.session_with_b()
    page = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await page.locator("#join-form button").click()
    await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
    await site.call("DELETE", f"/api/sessions/{s['id']}", token=s["a"])
    await expect(page.locator("#fatal-message")).to_have_text(
        "This session was deleted.", timeout=WAIT
    )
    await expect(page.locator("#session-view")).to_be_hidden()
    await assert_no_csp_violation(page)


async def test_api_docs_page_renders_under_the_csp(site: HubClient, browser: Browser) -> None:
    """/api/docs lists the operations, with its styles applied, and the CSP refuses
    nothing on it."""
    page = await open_page(browser, site.base + "/api/docs")
    await expect(page.locator("#operations .op").first).to_be_visible(timeout=WAIT)
    assert await page.locator("#operations .op").count() > 10
    radius = await page.locator("#operations .op").first.evaluate(
        "el => getComputedStyle(el).borderTopLeftRadius"
    )
    assert radius == "10px"  # api.css applied
    await assert_no_csp_violation(page)


def attack(n: int) -> str:
    """Markup that, if the page ever parsed it as HTML, would set window.pwned."""
    return f"<img src=x onerror=window.pwned={n}>"


async def test_markup_from_agents_is_shown_as_text_and_never_runs(
    site: HubClient, browser: Browser
) -> None:
    """Markup in a session name, messages, names, note titles and content, file paths and
    contents, attachments and metadata is shown as text: no element is injected, no
    script runs, and a Markdown link can only lead to http(s)."""
    s = await site.session_with_b(name=attack(1) + "<b>bold</b>")
    status, joined = await site.join(s["invite"], role="observer", display_name=attack(2))
    assert status == 201
    a, named = await site.connect(s["a"]), await site.connect(joined["token"])
    path = f"src/{attack(3)}<script>window.pwned=4</script>.py"
    await a.request({"type": "write_file", "path": path, "content": attack(5) + "<b>bold</b>"})
    await a.request(
        {
            "type": "update_note",
            "title": attack(6) + "<b>bold</b>",
            "expected_version": 0,
            "content": "\n".join(
                [
                    "# Plan " + attack(7),
                    "<script>window.pwned = 8</script>",
                    "- **strong** <b>bold</b> " + attack(9),
                    "[click me](javascript:window.pwned=10)",
                    "[and me](JaVaScRiPt:window.pwned=11) [data](data:text/html,hi)",
                    '[quoted](https://example.com/" onmouseover="window.pwned=12)',
                    "`<img src=x onerror=window.pwned=13>`",
                    "[docs](https://example.com/docs)",
                ]
            ),
        }
    )
    await a.say(attack(14) + "<script>window.pwned=15</script><b>bold</b>", msg_type="status")
    await named.say(
        "<b>bold</b> " + attack(16), attachments=[path], metadata={"html": attack(17)}, parent_id=1
    )

    page = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await page.locator("#join-form button").click()
    await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
    await expect(page.locator("#messages > li")).to_have_count(2, timeout=WAIT)
    await expect(page.locator("#session-name")).to_have_text(attack(1) + "<b>bold</b>")
    await expect(page.locator("#msg-1 .content")).to_have_text(
        attack(14) + "<script>window.pwned=15</script><b>bold</b>"
    )
    await expect(page.locator("#msg-2 .content")).to_have_text("<b>bold</b> " + attack(16))
    await expect(page.locator("#msg-2 .author")).to_have_text(attack(2))
    await expect(page.locator("#msg-2 .reply")).to_contain_text(attack(14))
    await expect(page.locator("#msg-2 .attachments")).to_have_text("attached: " + path)
    await expect(page.locator("#msg-2 .metadata pre")).to_contain_text("<img src=x")
    await expect(page.locator("#presence")).to_contain_text(attack(2), timeout=WAIT)
    note = page.locator("#notes article").first
    await expect(note.locator("h3").first).to_have_text(attack(6) + "<b>bold</b>")
    await expect(note.locator(".md")).to_contain_text("<script>window.pwned = 8</script>")
    await expect(note.locator(".md strong")).to_have_text("strong")
    await expect(page.locator("#files")).to_contain_text(path)
    await page.locator("#files button").first.click()
    await expect(page.locator("#file-view-path")).to_have_text(path, timeout=WAIT)
    await expect(page.locator("#file-view-content")).to_have_text(attack(5) + "<b>bold</b>")
    await expect(page.locator("#activity")).to_contain_text(path, timeout=WAIT)

    for link in await note.locator(".md a").all():  # hover and click every link there is
        await link.hover()
    injected = await page.evaluate(
        """() => [...document.querySelectorAll("#session-view img, #session-view script,"
              + " #session-view b, #session-view [onerror], #session-view [onmouseover]")]
              .map((e) => e.outerHTML)"""
    )
    assert injected == []
    hrefs = await page.eval_on_selector_all(".md a", "els => els.map(e => e.href)")
    assert "https://example.com/docs" in hrefs
    assert all(href.startswith(("http://", "https://")) for href in hrefs), hrefs
    assert await page.evaluate("typeof window.pwned") == "undefined"
    assert "<img" in await page.title()  # the name, as text, in the title too
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "observer-markup.png"), full_page=True)
    await assert_no_csp_violation(page)
