""" "My hub" as a person meets it in a real browser (headless Chromium under the
production Content-Security-Policy): sign up, sign in, keys made and revoked, sign out,
on a desktop, a phone and in dark mode."""

from __future__ import annotations

import secrets

from aiohttp import web
from playwright.async_api import Browser, expect

from tests.helpers import HubClient
from tests.web.test_page import PHONE, WAIT, assert_clean, open_page, screenshot


async def test_sign_up_sign_in_keys_and_sign_out(site: HubClient, browser: Browser) -> None:
    """A visitor creates an account and lands on "My hub"; makes an agent (a taken slug
    shows the hub's message); makes a key (shown once) and revokes it; signs out (the
    page's key stops working); a wrong password shows the hub's message; signing in
    again works. The key never appears in a URL."""
    name = "ada" + secrets.token_hex(4)
    page = await open_page(browser, f"{site.base}/me")
    await expect(page.locator("#login-view")).to_be_visible(timeout=WAIT)
    await screenshot(page, "me-signin-desktop.png")
    await page.locator("#show-signup").click()
    await page.locator("#signup-username").fill(name)
    await page.locator("#signup-display").fill("Ada Lovelace")
    await page.locator("#signup-password").fill("correct horse")
    await page.locator("#signup-form button[type=submit]").click()
    await expect(page.locator("#who")).to_have_text(f"Ada Lovelace ({name})", timeout=WAIT)
    await expect(page.locator("#keys > li")).to_have_count(1, timeout=WAIT)
    await expect(page.locator("#keys")).to_contain_text("web page")
    await expect(page.locator("#agents")).to_have_text("No agents yet.")
    await page.locator("#agent-slug").fill(f"{name}-bot")
    await page.locator("#agent-name").fill("Reviewer")
    await page.locator("#agent-name").press("Enter")
    await expect(page.locator("#agents > li")).to_have_text(
        [f"Reviewer ({name}-bot)unlisted · configuration revision 1 · not rated yetNew agent key"],
        timeout=WAIT,
    )
    await page.locator("#agent-slug").fill(f"{name}-bot")
    await page.locator("#agent-name").fill("Again")
    await page.locator("#agent-name").press("Enter")
    await expect(page.locator("#agent-error")).to_contain_text("taken", timeout=WAIT)

    await page.locator("#key-name").fill("ci-bot")
    await page.locator("#key-name").press("Enter")
    await expect(page.locator("#new-key")).to_be_visible(timeout=WAIT)
    token = (await page.locator("#new-key-token").text_content() or "").strip()
    assert token.startswith("usr_")
    assert (await site.call("GET", "/api/me", token=token))[0] == 200
    await expect(page.locator("#keys > li")).to_have_count(2, timeout=WAIT)
    await screenshot(page, "me-keys-desktop.png")
    await page.get_by_role("button", name="Revoke the key ci-bot").click()
    await expect(page.locator("#keys > li.revoked")).to_have_count(1, timeout=WAIT)
    assert (await site.call("GET", "/api/me", token=token))[0] == 401

    page_key = await page.evaluate("sessionStorage.getItem('hub.userKey')")
    await page.locator("#logout").click()
    await expect(page.locator("#login-view")).to_be_visible(timeout=WAIT)
    assert (await site.call("GET", "/api/me", token=page_key))[0] == 401

    await page.locator("#login-username").fill(name)
    await page.locator("#login-password").fill("wrong horse")
    await page.locator("#login-password").press("Enter")
    await expect(page.locator("#login-error")).to_have_text(
        "wrong username or password", timeout=WAIT
    )
    await page.locator("#login-password").fill("correct horse")
    await page.locator("#login-password").press("Enter")
    await expect(page.locator("#who")).to_contain_text(name, timeout=WAIT)
    assert all("usr_" not in url for url in page.requests)  # type: ignore[attr-defined]
    await assert_clean(page, site.base)


async def test_my_hub_on_a_phone_and_in_dark_mode(site: HubClient, browser: Browser) -> None:
    """On a phone the sign-in form and the key list fit the width; dark mode follows the
    system; each gets a screenshot."""
    name = "lin" + secrets.token_hex(4)
    user_key = await sign_up_and_log_in(site, name)
    status, _ = await site.call(
        "POST", "/api/me/agents", token=user_key, json={"slug": f"{name}-bot", "name": "Bot"}
    )
    status, made = await site.call(
        "POST", f"/api/agents/{name}-bot/keys", token=user_key, json={"name": "prod"}
    )
    status, _ = await site.call(
        "POST", "/api/sessions", token=made["token"], json={"name": "A long session name " * 4}
    )
    assert status == 201
    for signed_in, (label, context) in enumerate(
        (("phone", PHONE), ("dark", {"color_scheme": "dark"})), 1
    ):
        page = await open_page(browser, f"{site.base}/me", **context)
        await expect(page.locator("#login-view")).to_be_visible(timeout=WAIT)
        await page.locator("#login-username").fill(name)
        await page.locator("#login-password").fill("correct horse")
        await page.locator("#login-password").press("Enter")
        await expect(page.locator("#keys > li")).to_have_count(signed_in + 1, timeout=WAIT)
        await expect(page.locator("#sessions > li")).to_have_count(1, timeout=WAIT)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
        assert not overflow
        if label == "dark":
            bg = await page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
            assert bg == "rgb(17, 20, 24)", bg
        await screenshot(page, f"me-{label}.png")
        await assert_clean(page, site.base)


async def test_my_sessions_and_watching_one_without_an_invite(
    site: HubClient, browser: Browser
) -> None:
    """A person signed in on "My hub" makes an agent key from the page, with which a
    program creates a session and talks; the session is listed (with its status and
    which agent was which) and "Watch" opens it on the session page with the messages,
    live, without an invite code. Opening /watch/ID with no one signed in asks for an
    invite code instead."""
    name = "eve" + secrets.token_hex(4)
    await sign_up_and_log_in(site, name)
    page = await open_page(browser, f"{site.base}/me")
    await page.locator("#login-username").fill(name)
    await page.locator("#login-password").fill("correct horse")
    await page.locator("#login-password").press("Enter")
    await expect(page.locator("#sessions")).to_have_text(
        "No sessions yet: your agents' sessions appear here.", timeout=WAIT
    )
    await page.locator("#agent-slug").fill(f"{name}-bot")
    await page.locator("#agent-name").fill("Reviewer")
    await page.locator("#agent-name").press("Enter")
    await page.get_by_role("button", name=f"New agent key for {name}-bot").click()
    await expect(page.locator("#new-agent-key")).to_be_visible(timeout=WAIT)
    agent_key = (await page.locator("#new-agent-key-token").text_content() or "").strip()
    assert agent_key.startswith("agk_")

    status, created = await site.call(
        "POST", "/api/sessions", token=agent_key, json={"name": "Protein folding"}
    )
    assert status == 201, created
    sid, a_token = created["session"]["id"], created["agent_token"]
    status, _ = await site.call(
        "POST",
        f"/api/sessions/{sid}/messages",
        token=a_token,
        json={"content": "first finding", "client_msg_id": "m1"},
    )
    assert status == 201

    await page.reload()
    await expect(page.locator("#sessions > li")).to_have_count(1, timeout=WAIT)
    await expect(page.locator("#sessions > li")).to_contain_text("Protein folding")
    await expect(page.locator("#sessions > li")).to_contain_text(f"{name}-bot with nobody yet")
    await screenshot(page, "me-sessions-desktop.png")
    await page.get_by_role("link", name="Watch Protein folding").click()
    await page.wait_for_url(f"{site.base}/watch/{sid}", timeout=WAIT)
    await expect(page.locator("#messages > li")).to_have_count(1, timeout=WAIT)
    await expect(page.locator("#messages")).to_contain_text("first finding")
    status, _ = await site.call(
        "POST",
        f"/api/sessions/{sid}/messages",
        token=a_token,
        json={"content": "second finding", "client_msg_id": "m2"},
    )
    assert status == 201
    await expect(page.locator("#messages > li")).to_have_count(2, timeout=WAIT)
    await screenshot(page, "me-watching-desktop.png")
    assert all("usr_" not in url and "agk_" not in url for url in page.requests)  # type: ignore[attr-defined]
    await assert_clean(page, site.base)

    stranger = await open_page(browser, f"{site.base}/watch/{sid}")
    await expect(stranger.locator("#join-error")).to_contain_text("Sign in", timeout=WAIT)
    await expect(stranger.locator("#messages > li")).to_have_count(0)


async def sign_up_and_log_in(site: HubClient, name: str) -> str:
    status, _ = await site.call(
        "POST", "/api/users", json={"username": name, "password": "correct horse"}
    )
    assert status == 201
    status, logged = await site.call(
        "POST", "/api/login", json={"username": name, "password": "correct horse"}
    )
    assert status == 201
    return str(logged["token"])


async def test_spaces_on_my_hub(site: HubClient, browser: Browser) -> None:
    """A person makes a space on the page and adds another person as a member, whose
    agent then creates a session in it; choosing the space lists that session, "Watch"
    opens it and "My hub" leads back. A member (not an owner) sees the members without
    the controls and may leave. Desktop, phone and dark screenshots."""
    owner, member = "own" + secrets.token_hex(4), "mem" + secrets.token_hex(4)
    await sign_up_and_log_in(site, owner)
    member_key = await sign_up_and_log_in(site, member)
    page = await open_page(browser, f"{site.base}/me")
    await page.locator("#login-username").fill(owner)
    await page.locator("#login-password").fill("correct horse")
    await page.locator("#login-password").press("Enter")
    await expect(page.locator("#spaces")).to_have_text("No spaces yet.", timeout=WAIT)
    slug = f"{owner}-lab"
    await page.locator("#space-slug").fill(slug)
    await page.locator("#space-name").fill("Folding lab")
    await page.locator("#space-name").press("Enter")
    await expect(page.locator("#spaces > li")).to_contain_text(
        f"Folding lab ({slug})you are owner · 1 member", timeout=WAIT
    )
    await page.locator("#space-slug").fill(slug.upper())
    await page.locator("#space-name").fill("Again")
    await page.locator("#space-name").press("Enter")
    await expect(page.locator("#space-error")).to_contain_text("taken", timeout=WAIT)

    await page.get_by_role("button", name=f"Members of {slug}").click()
    await page.get_by_label(f"Add to {slug}: username").fill(member)
    await page.get_by_label(f"Add to {slug}: role").select_option("member")
    await page.get_by_role("button", name="Add", exact=True).click()
    await expect(page.locator("#spaces .members li")).to_have_count(2, timeout=WAIT)
    await expect(page.get_by_label(f"Role of {member}")).to_have_value("member")
    await expect(page.locator("#spaces > li .meta").first).to_have_text("you are owner · 2 members")

    status, agent = await site.call(
        "POST", "/api/me/agents", token=member_key, json={"slug": f"{member}-bot", "name": "B"}
    )
    assert status == 201, agent
    status, made = await site.call(
        "POST", f"/api/agents/{member}-bot/keys", token=member_key, json={"name": "prod"}
    )
    status, created = await site.call(
        "POST",
        "/api/sessions",
        token=made["token"],
        json={"name": "Space session", "workspace_id": slug},
    )
    assert status == 201, created
    await page.locator("#sessions-scope").select_option(f"space:{slug}")
    await expect(page.locator("#sessions > li")).to_contain_text("Space session", timeout=WAIT)
    await expect(page.locator("#sessions-hint")).to_contain_text("This space's sessions")
    await screenshot(page, "me-spaces-desktop.png")
    await page.get_by_role("link", name="Watch Space session").click()
    await page.wait_for_url(f"{site.base}/watch/{created['session']['id']}", timeout=WAIT)
    await expect(page.locator("#session-name")).to_have_text("Space session", timeout=WAIT)
    await page.get_by_role("link", name="My hub").click()
    await expect(page.locator("#spaces > li")).to_have_count(1, timeout=WAIT)
    await assert_clean(page, site.base)

    for label, context in (("phone", PHONE), ("dark", {"color_scheme": "dark"})):
        other = await open_page(browser, f"{site.base}/me", **context)
        await other.locator("#login-username").fill(member)
        await other.locator("#login-password").fill("correct horse")
        await other.locator("#login-password").press("Enter")
        await expect(other.locator("#spaces > li")).to_contain_text(
            "you are member · 2 members", timeout=WAIT
        )
        await other.get_by_role("button", name=f"Members of {slug}").click()
        await expect(other.locator("#spaces .members li")).to_have_count(2, timeout=WAIT)
        await expect(other.locator("#spaces .members select")).to_have_count(0)
        await expect(other.locator("#sessions > li")).to_contain_text("Space session")
        overflow = await other.evaluate(
            "document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
        await screenshot(other, f"me-spaces-{label}.png")
        assert not overflow
        await assert_clean(other, site.base)
    await other.get_by_role("button", name=f"Leave {slug}").click()
    await expect(other.locator("#spaces")).to_have_text("No spaces yet.", timeout=WAIT)


async def test_a_viewer_watches_read_only(site: HubClient, browser: Browser) -> None:
    """A space's viewer opens one of its sessions from "My hub": the messages are there,
    the composer is not, and the page says the view is read-only. Desktop and a dark
    phone, each with a screenshot."""
    owner, viewer = "own" + secrets.token_hex(4), "vwr" + secrets.token_hex(4)
    owner_key = await sign_up_and_log_in(site, owner)
    await sign_up_and_log_in(site, viewer)
    slug = f"{owner}-lab"
    status, _ = await site.call(
        "POST", "/api/spaces", token=owner_key, json={"slug": slug, "name": "Lab"}
    )
    assert status == 201
    status, _ = await site.call(
        "PUT", f"/api/spaces/{slug}/members/{viewer}", token=owner_key, json={"role": "viewer"}
    )
    assert status == 201
    await site.call(
        "POST", "/api/me/agents", token=owner_key, json={"slug": f"{owner}-bot", "name": "A"}
    )
    status, made = await site.call(
        "POST", f"/api/agents/{owner}-bot/keys", token=owner_key, json={"name": "prod"}
    )
    status, created = await site.call(
        "POST", "/api/sessions", token=made["token"], json={"name": "Viewed", "workspace_id": slug}
    )
    assert status == 201, created
    await site.call(
        "POST",
        f"/api/sessions/{created['session']['id']}/messages",
        token=created["agent_token"],
        json={"client_msg_id": "m1", "content": "Only to be read"},
    )
    for label, context in (("desktop", {}), ("phone-dark", {**PHONE, "color_scheme": "dark"})):
        page = await open_page(browser, f"{site.base}/me", **context)
        await page.locator("#login-username").fill(viewer)
        await page.locator("#login-password").fill("correct horse")
        await page.locator("#login-password").press("Enter")
        await page.locator("#sessions-scope").select_option(f"space:{slug}")
        await page.get_by_role("link", name="Watch Viewed").click()
        await expect(page.locator("#messages")).to_contain_text("Only to be read", timeout=WAIT)
        await expect(page.locator("#watch-only-note")).to_be_visible()
        await expect(page.locator("#chat-form")).to_be_hidden()
        await screenshot(page, f"viewer-watch-{label}.png")
        await assert_clean(page, site.base)


async def test_public_sessions_and_search(site: HubClient, browser: Browser) -> None:
    """ "Public sessions" lists what other people's agents made public; words search the
    chosen list (names and messages), best first, with the matching words marked and
    agent-written markup never made into elements. Desktop and a dark phone, with screenshots."""
    me, other = "me" + secrets.token_hex(4), "ot" + secrets.token_hex(4)
    my_key = await sign_up_and_log_in(site, me)
    other_key = await sign_up_and_log_in(site, other)
    word = "zyx" + secrets.token_hex(3)  # found in this test's sessions only

    async def session(key: str, slug: str, name: str, text: str, public: bool) -> str:
        await site.call("POST", "/api/me/agents", token=key, json={"slug": slug, "name": slug})
        status, made = await site.call(
            "POST", f"/api/agents/{slug}/keys", token=key, json={"name": "k"}
        )
        status, created = await site.call(
            "POST",
            "/api/sessions",
            token=made["token"],
            json={"name": name, "is_private": not public},
        )
        assert status == 201, created
        await site.call(
            "POST",
            f"/api/sessions/{created['session']['id']}/messages",
            token=created["agent_token"],
            json={"client_msg_id": "m1", "content": text},
        )
        return str(created["session"]["id"])

    await session(other_key, f"{other}-bot", f"Open {word} lab", f"<b>{word}</b> results", True)
    await session(other_key, f"{other}-hid", f"Hidden {word}", f"{word} secret", False)
    await session(my_key, f"{me}-bot", "My notes", f"my {word} draft", False)

    for label, context in (("desktop", {}), ("phone-dark", {**PHONE, "color_scheme": "dark"})):
        page = await open_page(browser, f"{site.base}/me", **context)
        await page.locator("#login-username").fill(me)
        await page.locator("#login-password").fill("correct horse")
        await page.locator("#login-password").press("Enter")
        await expect(page.locator("#sessions > li")).to_contain_text("My notes", timeout=WAIT)
        await page.locator("#sessions-scope").select_option("public")
        await expect(page.locator("#sessions-hint")).to_contain_text("public")
        await expect(page.get_by_role("link", name=f"Watch Open {word} lab")).to_be_visible(
            timeout=WAIT
        )
        await page.locator("#sessions-q").fill(word)
        await page.locator("#sessions-q").press("Enter")
        results = page.locator("#sessions > li")
        await expect(results).to_have_count(1, timeout=WAIT)
        await expect(results.locator("mark").first).to_have_text(word)
        await expect(results.locator(".snippet")).to_contain_text(f"{word} results")
        await expect(results.locator(".snippet b")).to_have_count(0)  # markup is never made
        await expect(results).not_to_contain_text("Hidden")
        await screenshot(page, f"me-search-{label}.png")
        await page.locator("#sessions-scope").select_option("mine")
        await page.locator("#sessions-q").press("Enter")
        await expect(results).to_have_count(1, timeout=WAIT)
        await expect(results).to_contain_text("My notes")
        await expect(results.locator(".snippet mark")).to_have_text(word)
        await assert_clean(page, site.base)


async def _answer(status: int, text: str) -> web.StreamResponse:
    return web.Response(status=status, text=text)


async def test_webhooks_on_my_hub(site: HubClient, browser: Browser) -> None:
    """A person sees their endpoints: one disabled says why and is enabled from the
    page; "Send test" delivers a test event to the local receiver and its attempt shows
    under "Deliveries" with its status and the answer's excerpt; an attempt made
    elsewhere (the worker, another client) shows there too while it is open, with no
    reload."""
    from tests.worker.test_webhooks import Receiver

    receiver = Receiver()
    await receiver.start()
    assert receiver.server is not None
    name = "hoo" + secrets.token_hex(4)
    await sign_up_and_log_in(site, name)
    try:
        page = await open_page(browser, f"{site.base}/me")
        await page.locator("#login-username").fill(name)
        await page.locator("#login-password").fill("correct horse")
        await page.locator("#login-password").press("Enter")
        await expect(page.locator("#webhooks")).to_have_text("No webhooks.", timeout=WAIT)
        user_key = await page.evaluate("sessionStorage.getItem('hub.userKey')")
        status, made = await site.call(
            "POST",
            "/api/webhooks",
            token=user_key,
            json={"url": receiver.url(), "event_types": ["note.*"], "enabled": False},
        )
        assert status == 201, made
        hook_id = made["webhook"]["id"]
        await page.reload()
        row = page.locator("#webhooks > li")
        await expect(row).to_contain_text("disabled: disabled by its owner", timeout=WAIT)
        await expect(row).to_contain_text("note.* · every session you may read")
        await page.get_by_role("button", name=f"Enable {hook_id}").click()
        await expect(row.locator(".state")).to_have_text("enabled", timeout=WAIT)
        await page.get_by_role("button", name=f"Send a test event to {hook_id}").click()
        deliveries = page.locator("#webhooks .deliveries li")
        await expect(deliveries).to_have_count(1, timeout=WAIT)
        await expect(deliveries).to_contain_text("webhook.test · test")
        await expect(deliveries).to_contain_text("200")
        await expect(deliveries.locator(".excerpt")).to_have_text("ok")
        assert len(receiver.got) == 1
        receiver.answer = lambda request, n: _answer(503, "busy")
        status, sent = await site.call("POST", f"/api/webhooks/{hook_id}/test", token=user_key)
        assert (status, sent["status"]) == (200, 503)  # made elsewhere, shown live
        await expect(deliveries).to_have_count(2, timeout=WAIT)
        await expect(deliveries.first).to_contain_text("503")
        await expect(deliveries.first.locator(".excerpt")).to_have_text("busy")
        await screenshot(page, "me-webhooks-desktop.png")
        await assert_clean(page, site.base)
    finally:
        await receiver.server.close()
