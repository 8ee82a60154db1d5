"""The public directory of agents and their A2A-style cards: only public profiles, found
by words, skill or tag, best rated or most active first, in keyset pages, with no key."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from tests.helpers import HubClient
from tests.web.test_profiles import agent_key, new_agent, person
from tests.web.test_ratings import rate, shared_session


async def test_only_public_agents_are_listed_and_found_by_word_skill_and_tag(
    client: HubClient,
) -> None:
    """Public profiles are listed without a key; an unlisted one never is; a word in the
    name, a skill id and a skill tag each narrow the list; LIKE's wildcards are plain
    characters."""
    word = "zq" + secrets.token_hex(3)
    owner = await person(client)
    skills = [{"id": f"review-{word}", "name": "Review", "tags": [f"py-{word}", "lint"]}]
    shown = await new_agent(
        client, owner, name=f"Reviewer {word}", visibility="public", skills=skills
    )
    await new_agent(client, owner, name=f"Hidden {word}", skills=skills)
    await new_agent(client, owner, name=f"Other {word}", visibility="public")

    async def found(**params: Any) -> list[str]:
        status, page = await client.call("GET", "/api/agents", params=params)
        assert status == 200, page
        return [entry["slug"] for entry in page["agents"]]

    assert len(await found(q=word)) == 2
    assert await found(q=word, skill=f"review-{word}") == [shown["slug"]]
    assert await found(tag=f"py-{word}") == [shown["slug"]]
    assert await found(q="%" + word) == []
    status, _ = await client.call("GET", "/api/agents", params={"q": word, "limit": 500})
    assert status == 400


async def test_best_rated_first_in_keyset_pages(client: HubClient) -> None:
    """Sorted by rating, higher means first and unrated last; paging with `next` visits
    every match once."""
    word = "zr" + secrets.token_hex(3)
    star_owner = await person(client)
    agents = []
    for score in (2, 5, 4):
        agent = await new_agent(client, star_owner, name=f"{word} {score}", visibility="public")
        key = (await agent_key(client, star_owner, agent["slug"]))["token"]
        rater_owner = await person(client)
        rater = await new_agent(client, rater_owner)
        rater_key = (await agent_key(client, rater_owner, rater["slug"]))["token"]
        sid, _ = await shared_session(client, agent, key, rater_key)
        assert (await rate(client, sid, rater_key, score))[0] == 201
        agents.append((score, agent["slug"]))
    unrated = await new_agent(client, star_owner, name=f"{word} none", visibility="public")
    expected = [slug for _, slug in sorted(agents, reverse=True)] + [unrated["slug"]]

    seen: list[str] = []
    params: dict[str, Any] = {"q": word, "sort": "rating", "limit": 2}
    while True:
        status, page = await client.call("GET", "/api/agents", params=params)
        assert status == 200, page
        seen += [entry["slug"] for entry in page["agents"]]
        if not page["next"]:
            break
        params["cursor"] = page["next"]
    assert seen == expected
    status, page = await client.call("GET", "/api/agents", params={"q": word, "sort": "activity"})
    assert status == 200 and page["agents"][-1]["slug"] == unrated["slug"]
    assert page["agents"][0]["last_active_at"] is not None


async def test_a_public_agent_has_a_card_and_others_have_none(client: HubClient) -> None:
    """A public agent's card names it, its skills, where to reach it, its configuration
    revision and its ratings; an unlisted or unknown agent's card is `not_found`."""
    owner = await person(client)
    skills = [{"id": "plan", "name": "Planning", "description": "splits work", "tags": ["pm"]}]
    public = await new_agent(client, owner, name="Planner", visibility="public", skills=skills)
    hidden = await new_agent(client, owner)
    status, card = await client.call("GET", f"/api/agents/{public['slug']}/card")
    assert status == 200, card
    assert card["name"] == "Planner" and card["skills"][0]["id"] == "plan"
    assert card["url"] == f"{client.base}/api/agents/{public['slug']}"
    assert card["version"] == "1" and card["ratings"]["count"] == 0
    for slug in (hidden["slug"], "no-such-agent"):
        status, answer = await client.call("GET", f"/api/agents/{slug}/card")
        assert (status, answer["code"]) == (404, "not_found")


async def test_most_active_first_in_keyset_pages(client: HubClient) -> None:
    """Sorted by activity, the agent whose latest session (as agent A or B, entered with
    its key) is the newest comes first and never-active ones last; paging with `next`
    visits every match once, in that order; a new session moves its agent first."""
    word = "za" + secrets.token_hex(3)
    owner = await person(client)
    agents = []
    for i in range(3):
        agent = await new_agent(client, owner, name=f"{word} {i}", visibility="public")
        agents.append((agent, (await agent_key(client, owner, agent["slug"]))["token"]))
    idle = await new_agent(client, owner, name=f"{word} idle", visibility="public")
    other = await person(client)
    host = await new_agent(client, other)
    host_key = (await agent_key(client, other, host["slug"]))["token"]
    for i in (1, 0, 2):  # agent 0 joins a session; the others create theirs
        agent, key = agents[i]
        if i == 0:
            await shared_session(client, host, host_key, key, complete=False)
        else:
            assert (await client.call("POST", "/api/sessions", token=key, json={}))[0] == 201

    async def pages() -> list[str]:
        seen: list[str] = []
        params: dict[str, Any] = {"q": word, "sort": "activity", "limit": 2}
        while True:
            status, page = await client.call("GET", "/api/agents", params=params)
            assert status == 200, page
            seen += [entry["slug"] for entry in page["agents"]]
            if not page["next"]:
                return seen
            params["cursor"] = page["next"]

    slugs = [agent["slug"] for agent, _ in agents]
    assert await pages() == [slugs[2], slugs[0], slugs[1], idle["slug"]]
    assert (await client.call("POST", "/api/sessions", token=agents[1][1], json={}))[0] == 201
    assert await pages() == [slugs[1], slugs[2], slugs[0], idle["slug"]]


async def test_joining_an_old_session_makes_an_agent_the_most_active(client: HubClient) -> None:
    """An agent is as active as the last time it entered a session, not as new as its
    newest session: joining a session created before another agent's makes it first."""
    word = "zj" + secrets.token_hex(3)
    owner, other = await person(client), await person(client)
    host = await new_agent(client, other)
    host_key = (await agent_key(client, other, host["slug"]))["token"]
    status, old = await client.call("POST", "/api/sessions", token=host_key, json={})
    assert status == 201, old
    creator = await new_agent(client, owner, name=f"{word} creator", visibility="public")
    creator_key = (await agent_key(client, owner, creator["slug"]))["token"]
    joiner = await new_agent(client, owner, name=f"{word} joiner", visibility="public")
    joiner_key = (await agent_key(client, owner, joiner["slug"]))["token"]
    assert (await client.call("POST", "/api/sessions", token=creator_key, json={}))[0] == 201

    status, joined = await client.call(
        "POST", "/api/join", token=joiner_key, json={"invite_code": old["invite_code"]}
    )
    assert status == 201, joined
    status, page = await client.call("GET", "/api/agents", params={"q": word, "sort": "activity"})
    assert status == 200, page
    assert [entry["slug"] for entry in page["agents"]] == [joiner["slug"], creator["slug"]]
    joined_at, created_at = (
        datetime.fromisoformat(entry["last_active_at"]) for entry in page["agents"]
    )
    assert joined_at > created_at > datetime.fromisoformat(old["session"]["created_at"])


async def test_words_find_skill_names_and_tags_and_a_skill_is_its_id_or_name(
    client: HubClient,
) -> None:
    """Free-text search also finds an agent by one of its skills' names or tags (in any
    case); `skill` matches a skill's id or its name, in any case, and nothing partial."""
    word = "zs" + secrets.token_hex(3)
    owner = await person(client)
    skills = [
        {"id": "triage", "name": f"Bug Triage {word}", "tags": [f"Tag{word}", "ops"]},
        {"id": f"plan-{word}", "name": "Planning"},
    ]
    agent = await new_agent(client, owner, name="Quiet one", visibility="public", skills=skills)
    await new_agent(client, owner, name="Bystander", visibility="public")

    async def found(**params: Any) -> list[str]:
        status, page = await client.call("GET", "/api/agents", params=params)
        assert status == 200, page
        return [entry["slug"] for entry in page["agents"]]

    assert await found(q=f"TRIAGE {word.upper()}") == [agent["slug"]]
    assert await found(q=f"tag{word}") == [agent["slug"]]
    for skill in (f"PLAN-{word}", f"bug triage {word}", f"Bug Triage {word}"):
        assert await found(skill=skill) == [agent["slug"]], skill
    assert await found(skill=f"Bug Triage {word}", q="Bystander") == []
    assert await found(skill=f"Triage {word}") == []
