"""The observer page as a person meets it, in a real browser (the system's headless
Chromium, driven by Playwright) on a real hub that sends the production
Content-Security-Policy: names, dates, Markdown, dark mode, layout, presence while
disconnected, and filtering the messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.helpers import HubClient, Peer
from tests.web.conftest import ARTIFACTS

WAIT = 10_000  # ms, for Playwright's own waiting assertions
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

# Runs in every page before its own scripts: records what the policy refused.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.violatedDirective} refused ${e.blockedURI}`);
});
"""


async def open_page(browser: Browser, url: str, **context: Any) -> Page:
    """A new browser context on `url`; records script errors, CSP refusals and every
    request the page makes."""
    made = await browser.new_context(**{**DESKTOP, **context})
    await made.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await made.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.on("request", lambda req: requests.append(req.url))
    page.errors = errors  # type: ignore[attr-defined]
    page.requests = requests  # type: ignore[attr-defined]
    await page.goto(url)
    return page


async def enter(page: Page, name: str) -> None:
    """Give a name on the join form (the code is already there) and wait until live."""
    await page.locator("#join-name").fill(name)
    await page.locator("#join-name").press("Enter")
    await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)


async def assert_clean(page: Page, base: str) -> None:
    """No script error, nothing refused by the CSP, and nothing loaded from elsewhere."""
    assert await page.evaluate("window.cspViolations") == []
    assert page.errors == []  # type: ignore[attr-defined]
    host = base.split("://", 1)[1]
    strangers = [
        url
        for url in page.requests  # type: ignore[attr-defined]
        if url.split("://", 1)[-1].split("/", 1)[0] != host
    ]
    assert strangers == []


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


async def observer(site: HubClient, invite: str, name: str) -> Peer:
    """Another observer, joined under `name` and connected."""
    status, joined = await site.join(invite, role="observer", display_name=name)
    assert status == 201, joined
    return await site.connect(joined["token"])


async def test_the_invite_link_asks_for_a_name_and_names_show_everywhere(
    site: HubClient, browser: Browser
) -> None:
    """Following /join/CODE shows the form with the code filled in and the name field
    focused; then messages, presence, note versions, the conflict box and the activity
    log name people (display names, agents as "Agent B (bee)"), never an observer id."""
    s = await site.session_with_b(name="Naming")
    a, b = await site.connect(s["a"]), await site.connect(s["b"])
    plan = await a.request(
        {"type": "update_note", "title": "Plan", "content": "# Plan", "expected_version": 0}
    )
    note_id = plan["note"]["id"]
    grace = await observer(site, s["invite"], "Grace")
    await grace.say("Grace here")

    page = await open_page(browser, f"{site.base}/join/{s['invite'].lower()}")
    await expect(page.locator("#join-view")).to_be_visible(timeout=WAIT)
    await expect(page.locator("#session-view")).to_be_hidden()
    await expect(page.locator("#join-code")).to_have_value(s["invite"])
    await expect(page.locator("#join-name")).to_be_focused()
    await enter(page, "Ada")

    await expect(page.locator("#msg-1 .author")).to_have_text("Grace", timeout=WAIT)
    await page.locator("#chat-input").fill("Ada here")
    await page.locator("#chat-input").press("Enter")
    await expect(page.locator("#msg-2 .author")).to_have_text("Ada (you)", timeout=WAIT)
    await expect(page.locator("#presence")).to_contain_text("Grace")
    await expect(page.locator("#presence")).to_contain_text("Ada")

    # a note edited by Grace while Ada edits: version line and conflict box name Grace
    note = page.locator(f"#note-{note_id}")
    await expect(note.locator(".md h3")).to_have_text("Plan", timeout=WAIT)
    await note.locator("button.edit").click()
    await note.locator("textarea").fill("Ada's plan")
    await grace.request(
        {"type": "update_note", "note_id": note_id, "expected_version": 1, "content": "G"}
    )
    await expect(note.locator(".version")).to_contain_text("v2 · Grace", timeout=WAIT)
    await note.locator("button.save").click()
    await expect(note.locator(".conflict")).to_contain_text("now v2 by Grace", timeout=WAIT)
    # while editing, the notes panel shows the whole editor (no scrolling inside it)
    assert await page.locator(".notes-panel").evaluate(
        "el => el.scrollHeight <= el.clientHeight + 1"
    )

    # the activity log in words, with names
    activity = page.locator("#activity")
    await expect(activity).to_contain_text("Agent B (bee) joined", timeout=WAIT)
    await expect(activity).to_contain_text("Observer (Grace) joined to watch")
    await expect(activity).to_contain_text("Observer (Ada) joined to watch")
    await expect(activity).to_contain_text("Observer (Grace) edited note “Plan” (v2)")
    await expect(activity).to_contain_text("sent message #2")
    assert "agent_b joined" not in await activity.inner_text()
    assert "obs_" not in await page.locator("#session-view").inner_text()

    # the same tab comes back in as Ada without asking again
    await page.reload()
    await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
    await expect(page.locator("#msg-2 .author")).to_have_text("Ada (you)", timeout=WAIT)
    await assert_clean(page, site.base)
    await a.close()
    await b.close()


async def test_the_home_page_asks_for_the_code_and_offers_the_last_name(
    site: HubClient, browser: Browser
) -> None:
    """From / the code field has the focus; a name given once in this browser is offered
    again, and a name given with the code shows on the person's messages."""
    s = await site.session_with_b()
    page = await open_page(browser, site.base + "/")
    await expect(page.locator("#join-code")).to_be_focused(timeout=WAIT)
    await page.evaluate("localStorage.setItem('hub.name', 'Ada')")
    await page.goto(f"{site.base}/join/{s['invite']}")
    await expect(page.locator("#join-name")).to_have_value("Ada", timeout=WAIT)
    await expect(page.locator("#join-name")).to_be_focused()
    await page.locator("#join-form button").click()
    await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
    await expect(page.locator("#presence")).to_contain_text("Ada")
    await assert_clean(page, site.base)


async def test_times_show_the_date_unless_today_and_everything_on_hover(
    site: HubClient, browser: Browser
) -> None:
    """A message from today shows its clock time; seen three days later it shows the
    date too; either way the full date and time are in the title and a <time datetime>."""
    s = await site.session_with_b()
    a = await site.connect(s["a"])
    sent = await a.say("hello")
    created = sent["message"]["created_at"]

    today = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await enter(today, "Ada")
    stamp = today.locator("#msg-1 .stamp time")
    await expect(stamp).to_have_text(
        await today.evaluate(
            "iso => new Date(iso).toLocaleTimeString([], "
            "{hour: '2-digit', minute: '2-digit', second: '2-digit'})",
            created,
        )
    )
    when = datetime.fromisoformat(created)
    shown = datetime.fromisoformat(await stamp.get_attribute("datetime") or "")
    assert abs(shown - when) < timedelta(milliseconds=1)
    title = await stamp.get_attribute("title") or ""
    assert str(when.astimezone(UTC).year) in title and ":" in title

    later = await open_page(browser, "about:blank")
    await later.clock.set_fixed_time(datetime.now(UTC) + timedelta(days=3))
    await later.goto(f"{site.base}/join/{s['invite']}")
    await enter(later, "Ada")
    date = await later.evaluate(
        "iso => new Date(iso).toLocaleDateString([], {day: 'numeric', month: 'short'})", created
    )
    await expect(later.locator("#msg-1 .stamp time")).to_contain_text(date)
    await expect(later.locator("#activity time").first).to_contain_text(date)
    await assert_clean(today, site.base)
    await assert_clean(later, site.base)


async def test_markdown_renders_in_messages_and_notes_safely(
    site: HubClient, browser: Browser
) -> None:
    """Messages and notes render Markdown (emphasis, links, autolinks, tables, code);
    raw HTML shows as text, javascript: links are not links, links open in a new tab
    without referrer, remote images become links, and the CSP refuses nothing."""
    s = await site.session_with_b()
    a = await site.connect(s["a"])
    await a.say(
        "**bold** and [docs](https://example.org/docs) and see https://auto.example.com\n"
        "<b>raw</b> <img src=x onerror=window.pwned=1> [bad](javascript:window.pwned=2)\n"
        "`code` ![remote](https://example.org/cat.png)"
    )
    table = "| name | size |\n| :--- | ---: |\n| [a](https://example.org/a) | 10 |\n"
    await a.request(
        {
            "type": "update_note",
            "title": "Table",
            "content": f"# Sizes\n\n{table}\n- [x] measured\n- [ ] shipped\n\n"
            "<script>window.pwned=3</script>",
            "expected_version": 0,
        }
    )

    page = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await enter(page, "Ada")
    message = page.locator("#msg-1 .content")
    await expect(message.locator("strong")).to_have_text("bold", timeout=WAIT)
    await expect(message.locator("code")).to_have_text("code")
    docs = message.locator('a[href="https://example.org/docs"]')
    await expect(docs).to_have_text("docs")
    await expect(docs).to_have_attribute("rel", "noopener noreferrer")
    await expect(docs).to_have_attribute("target", "_blank")
    await expect(message.locator('a[href="https://auto.example.com"]')).to_have_count(1)
    await expect(message.locator('a[href="https://example.org/cat.png"]')).to_contain_text("remote")
    await expect(message).to_contain_text("<b>raw</b>")
    await expect(message).to_contain_text("[bad](javascript:window.pwned=2)")
    assert await message.locator("b, img, a[href^=javascript]").count() == 0

    note = page.locator("#notes .note").first
    await expect(note.locator(".md h3")).to_have_text("Sizes", timeout=WAIT)
    await expect(note.locator("table th")).to_have_count(2)
    await expect(note.locator("table td.align-right")).to_have_text("10")
    await expect(note.locator('td a[href="https://example.org/a"]')).to_have_text("a")
    await expect(note.locator(".md")).to_contain_text("<script>window.pwned=3</script>")
    await expect(note.locator(".md li")).to_have_text(["☑ measured", "☐ shipped"])
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("[style]").count() == 0
    assert (await site.call("GET", "/static/markdown.js"))[0] == 404  # hand-written one gone
    await assert_clean(page, site.base)


async def test_layout_desktop_phone_and_dark(site: HubClient, browser: Browser) -> None:
    """On a desktop the page fits the window with the activity panel whole (its list
    scrolls inside); on a phone the messages open at the first one, unclipped; dark mode
    follows the system; the favicon is served; each gets a screenshot."""
    s = await site.session_with_b(name="Parser rewrite")
    a, b = await site.connect(s["a"]), await site.connect(s["b"])
    await a.request(
        {
            "type": "update_note",
            "title": "Plan",
            "content": "## Steps\n- [x] tokenizer\n- grammar, see [RFC](https://example.org)\n\n"
            "| part | owner |\n| --- | --- |\n| lexer | A |\n| parser | B |",
            "expected_version": 0,
        }
    )
    await a.request({"type": "write_file", "path": "src/lexer.py", "content": "def lex(): ...\n"})
    await b.request({"type": "set_presence", "status": "working", "activity": "grammar"})
    await a.say("I'll take the **tokenizer**; the plan is in the note.")
    await b.say("Then I write the grammar:\n\n1. expressions\n2. statements")
    await b.say("Over to you", msg_type="handoff")
    for i in range(24):
        await (a if i % 2 else b).say(f"step {i}: `ok`", msg_type="status" if i % 3 else "chat")
    last = 27

    desktop = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await enter(desktop, "Ada")
    await expect(desktop.locator("#messages > li")).to_have_count(last, timeout=WAIT)
    await expect(desktop.locator("#activity")).to_contain_text(f"#{last}", timeout=WAIT)
    fits = await desktop.evaluate(
        """() => {
          const panel = document.querySelector('.activity-panel').getBoundingClientRect();
          const list = document.getElementById('activity');
          list.scrollTop = list.scrollHeight;
          const lastRow = list.lastElementChild.getBoundingClientRect();
          return {
            pageScrolls: document.documentElement.scrollHeight > innerHeight,
            panelBottom: panel.bottom, height: innerHeight,
            lastRowBottom: lastRow.bottom, listBottom: list.getBoundingClientRect().bottom,
          };
        }"""
    )
    assert not fits["pageScrolls"], fits
    assert fits["panelBottom"] <= fits["height"], fits
    assert fits["lastRowBottom"] <= fits["listBottom"] + 1, fits
    icon = await desktop.locator('link[rel="icon"]').get_attribute("href")
    assert icon and icon.endswith(".svg")
    async with site.http.get(site.base + icon) as got:
        assert got.status == 200 and got.content_type == "image/svg+xml"
    await desktop.locator("#msg-1").scroll_into_view_if_needed()
    await screenshot(desktop, "page-desktop.png")

    phone = await open_page(browser, f"{site.base}/join/{s['invite']}", **PHONE)
    await enter(phone, "Grace")
    await expect(phone.locator("#messages > li")).to_have_count(last, timeout=WAIT)
    first = await phone.evaluate(
        """() => {
          const header = document.querySelector('.top').getBoundingClientRect();
          const list = document.getElementById('messages');
          const first = document.getElementById('msg-1').getBoundingClientRect();
          return {scrollY, listScrollTop: list.scrollTop, top: first.top,
                  listTop: list.getBoundingClientRect().top, headerBottom: header.bottom};
        }"""
    )
    assert first["scrollY"] == 0 and first["listScrollTop"] == 0, first
    assert first["top"] >= first["listTop"] >= first["headerBottom"], first
    await screenshot(phone, "page-phone-open.png", full_page=False)  # what a phone opens on
    await screenshot(phone, "page-phone.png")

    dark = await open_page(browser, f"{site.base}/join/{s['invite']}", color_scheme="dark")
    await enter(dark, "Lin")
    await expect(dark.locator("#messages > li")).to_have_count(last, timeout=WAIT)
    colours = await dark.evaluate(
        """() => {
          const rgb = (el, prop) =>
            getComputedStyle(el)[prop].match(/\\d+/g).slice(0, 3).map(Number);
          const light = (c) => (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;
          const panel = document.querySelector('.panel');
          const message = document.getElementById('msg-1');
          const input = document.getElementById('chat-input');
          return {body: light(rgb(document.body, 'backgroundColor')),
                  panel: light(rgb(panel, 'backgroundColor')),
                  message: light(rgb(message, 'backgroundColor')),
                  input: light(rgb(input, 'backgroundColor')),
                  ink: light(rgb(message, 'color'))};
        }"""
    )
    assert max(colours["body"], colours["panel"], colours["message"], colours["input"]) < 0.2
    assert colours["ink"] > 0.7, colours
    await screenshot(dark, "page-dark.png")
    for page in (desktop, phone, dark):
        await assert_clean(page, site.base)


async def test_empty_panels_say_so(site: HubClient, browser: Browser) -> None:
    """A session with nothing in it yet says so in each panel instead of showing blanks."""
    s = await site.session_with_b()
    page = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await enter(page, "Ada")
    await expect(page.locator("#messages-empty")).to_have_text("No messages yet.")
    await expect(page.locator("#notes-empty")).to_have_text("No notes yet.")
    await expect(page.locator("#files-empty")).to_have_text("No files yet.")
    await expect(page.locator("#presence-empty")).to_have_text("Nobody else is here yet.")
    await expect(page.locator("#presence")).to_contain_text("Ada")
    a = await site.connect(s["a"])
    await a.say("first")
    await a.request({"type": "write_file", "path": "a.txt", "content": "a"})
    await a.request({"type": "update_note", "title": "N", "content": "n", "expected_version": 0})
    for empty in ("#messages-empty", "#notes-empty", "#files-empty", "#presence-empty"):
        await expect(page.locator(empty)).to_be_hidden(timeout=WAIT)
    await assert_clean(page, site.base)


async def test_presence_is_unknown_while_disconnected(site: HubClient, browser: Browser) -> None:
    """While the page cannot reach the hub, "Who is here" says presence is unknown and
    greys out the last known list instead of showing people online; it is live again
    after the reconnect."""
    s = await site.session_with_b()
    b = await site.connect(s["b"])
    page = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await enter(page, "Ada")
    bee = page.locator('#presence li[data-participant="bee"]')
    await expect(bee).to_have_class("status-online", timeout=WAIT)
    await expect(page.locator("#presence-unknown")).to_be_hidden()

    await page.context.set_offline(True)
    await page.evaluate("window.hubDropConnection()")
    await expect(page.locator("#presence-unknown")).to_be_visible(timeout=WAIT)
    await expect(page.locator("#presence-unknown")).to_contain_text("unknown")
    await expect(page.locator("#presence-panel")).to_have_class("panel stale")
    await expect(bee).to_have_class("status-unknown")
    await expect(bee.locator(".state")).to_have_text("online?")
    await screenshot(page, "page-disconnected.png")

    await page.context.set_offline(False)
    await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
    await expect(page.locator("#presence-unknown")).to_be_hidden()
    await expect(bee).to_have_class("status-online")
    await b.close()


async def test_messages_filter_by_text_type_and_author(site: HubClient, browser: Browser) -> None:
    """The filter shows only the loaded messages matching the text, type and author
    chosen (new ones too), counts them, says when none match, and clears back to all."""
    s = await site.session_with_b()
    a, b = await site.connect(s["a"]), await site.connect(s["b"])
    await a.say("The tokenizer is done")
    await b.say("Over to you", msg_type="handoff")
    await a.say("Running the tokenizer tests", msg_type="status")
    await b.say("Grammar next")
    page = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await enter(page, "Ada")
    await expect(page.locator("#messages > li")).to_have_count(4, timeout=WAIT)

    def shown() -> Any:
        return page.eval_on_selector_all(
            "#messages > li:not([hidden])", "els => els.map(e => Number(e.dataset.id))"
        )

    await page.locator("#filter-text").fill("TOKENIZER")
    await expect(page.locator("#filter-count")).to_have_text("Showing 2 of 4 messages.")
    assert await shown() == [1, 3]
    await page.locator("#filter-type").select_option("status")
    assert await shown() == [3]
    await page.locator("#filter-text").fill("")
    await page.locator("#filter-type").select_option("")
    await expect(page.locator("#filter-author option")).to_have_count(3)
    await page.locator("#filter-author").select_option(label="bee · Agent B")
    assert await shown() == [2, 4]
    await a.say("not by bee")
    await b.say("by bee, live")
    await expect(page.locator("#messages > li")).to_have_count(6, timeout=WAIT)
    assert await shown() == [2, 4, 6]
    await expect(page.locator("#filter-count")).to_have_text("Showing 3 of 6 messages.")
    await page.locator("#filter-text").fill("no such words")
    await expect(page.locator("#messages-empty")).to_have_text("No messages match the filter.")
    await page.locator("#filter-text").fill("")
    await page.locator("#filter-author").select_option("")
    assert await shown() == [1, 2, 3, 4, 5, 6]
    await expect(page.locator("#filter-count")).to_be_hidden()
    await expect(page.locator("#messages-empty")).to_be_hidden()
    await assert_clean(page, site.base)
