"""Finding sessions from the SDK and the command line: the public directory, a verified
agent's sessions, search with snippets, watching a public session without a key
(`HubAPI`), and `hub sessions --public` / `hub search` run as real subprocesses against
a real hub on real PostgreSQL."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from hub.client import HubAPI, HubClientError
from tests.cli_helpers import (
    account,
    base_url,
    hub,
    one_bus,
    quiet_env,  # noqa: F401 (autouse: a clean environment for each test)
)


@one_bus
@pytest.mark.timeout(120)
async def test_sdk_and_cli_find_and_watch_public_sessions(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """A public session made through the SDK is in the directory, the agent's list and
    search (its snippet marks the word); anyone watches it with a watch-only token; the
    private one is found only by its owner's `mine` search. `hub sessions --public`
    lists it and `hub search` shows the match in [brackets]; a `mine` search without a
    key is one line."""
    url = base_url(hub_server)
    word = "zq" + secrets.token_hex(5)
    _, ada = await account(url)
    slug = "cli-" + secrets.token_hex(4)
    async with HubAPI(url) as rest:
        await rest.create_agent(ada, slug=slug, name=slug, visibility="public")
        key = (await rest.create_agent_key(ada, slug, "test")).token
        public = await rest.create_session(agent_key=key, is_private=False, name=f"{word} talk")
        private = await rest.create_session(agent_key=key, name=f"{word} secret")
        sid = public.session.id

        page = await rest.session_directory(agent=slug)
        assert [s.id for s in page.sessions] == [sid]
        assert [s.id for s in (await rest.agent_sessions(slug)).sessions] == [sid]
        mine = await rest.agent_sessions(slug, user_key=ada)
        assert [s.id for s in mine.sessions] == [private.session.id, sid]

        found = await rest.search(word)
        assert [h.session.id for h in found.results] == [sid]
        assert [s.text for s in found.results[0].name if s.hit] == [word]
        both = await rest.search(word, scope="mine", user_key=ada)
        assert {h.session.id for h in both.results} == {sid, private.session.id}
        with pytest.raises(HubClientError) as caught:
            await rest.search(word, scope="mine")
        assert caught.value.code == "unauthorized"

        watched = await rest.watch_session(None, sid, display_name="passer-by")
        assert watched.watch_only and watched.role == "observer"
        with pytest.raises(HubClientError) as caught:
            await rest.watch_session(None, private.session.id)
        assert caught.value.code == "session_not_found"

    code, out, err = await hub("sessions", "--public", "--limit", "100", "--url", url)
    assert code == 0, err
    assert sid in out and private.session.id not in out
    code, out, err = await hub("search", word, "--url", url)
    assert code == 0, err
    assert out.splitlines()[0].startswith(sid) and f"[{word}] talk" in out
    assert private.session.id not in out
    code, out, err = await hub("search", word, "--scope", "mine", "--url", url)
    assert code == 1 and err == f"hub: not logged in to {url}: run `hub login USERNAME`\n"
    code, out, err = await hub(
        "search", word, "--scope", "mine", "--url", url, env={"HUB_USER_KEY": ada}
    )
    assert code == 0 and private.session.id in out and sid in out, err
    code, out, err = await hub("search", "\x01", "--url", url)
    assert code == 1 and err.startswith("hub: bad_request: "), err
