"""The SDK's helpers for agent profiles: keys, configuration revisions, and sessions
entered with an agent key."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from hub.client import AuthFailed, Conflict, HubAPI, HubClientError
from tests.web.test_accounts import fresh_name
from tests.web.test_profiles import fresh_slug


async def test_an_agent_program_enters_sessions_with_its_key(hub_server: TestServer) -> None:
    """A person makes a profile and a key with the SDK; the agent creates and joins
    sessions with `agent_key=` and shows verified at its revision; a stale config edit
    raises `Conflict` carrying the current revision; a revoked key raises AuthFailed."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        name = fresh_name("sdk")
        password = "correct horse"
        await rest.request("POST", "/api/users", body={"username": name, "password": password})
        logged = await rest.request(
            "POST", "/api/login", body={"username": name, "password": password}
        )
        user_key = logged["token"]
        a = await rest.create_agent(user_key, slug=fresh_slug("sdk"), name="A", config={"m": 1})
        b = await rest.create_agent(user_key, slug=fresh_slug("sdk"), name="B")
        assert [p.slug for p in await rest.my_agents(user_key)] == [a.slug, b.slug]
        second = await rest.put_agent_config(user_key, a.slug, {"m": 2}, 1)
        assert second.revision == 2
        with pytest.raises(Conflict) as stale:
            await rest.put_agent_config(user_key, a.slug, {"m": 3}, 1)
        assert stale.value.revision is not None and stale.value.revision.revision == 2
        diff = await rest.config_diff(user_key, a.slug, 1, 2)
        assert [(c.path, c.old, c.new) for c in diff.changed] == [("$.m", 1, 2)]
        rolled = await rest.rollback_agent_config(user_key, a.slug, 1, 2)
        assert rolled.revision == 3 and rolled.config == {"m": 1}
        page = await rest.config_revisions(user_key, a.slug, limit=2)
        assert [r.revision for r in page.revisions] == [3, 2] and page.next_before == 2

        a_key = await rest.create_agent_key(user_key, a.slug, "prod")
        b_key = await rest.create_agent_key(user_key, b.slug, "prod")
        created = await rest.create_session(agent_key=a_key.token, name="Verified")
        assert created.session.agent_a_verified and created.session.agent_a_revision == 3
        joined = await rest.join(created.invite_code, agent_key=b_key.token)
        assert joined.session.agent_b_profile == b.slug and joined.session.agent_b_verified
        mine = await rest.my_sessions(user_key)
        assert [s.id for s in mine.sessions] == [created.session.id] and mine.next is None
        since = created.session.created_at
        for kwargs, found in (
            ({"agent": b.slug, "created_after": since}, [created.session.id]),
            ({"agent": a.slug, "created_before": since}, []),
            ({"mode": "realtime"}, []),
        ):
            page = await rest.my_sessions(user_key, **kwargs)  # type: ignore[arg-type]
            assert [s.id for s in page.sessions] == found, kwargs
        watching = await rest.watch_session(user_key, created.session.id, display_name="Me")
        assert watching.role == "observer"
        assert (await rest.session(created.session.id, watching.token)).agent_b_profile == b.slug
        with pytest.raises(HubClientError) as unknown:
            await rest.watch_session(user_key, "ses_nope")
        assert unknown.value.code == "session_not_found"
        await rest.revoke_agent_key(user_key, a.slug, a_key.key.id)
        with pytest.raises(AuthFailed):
            await rest.create_session(agent_key=a_key.token)


async def test_user_keys_and_agent_metadata_with_the_sdk(hub_server: TestServer) -> None:
    """`create_user_key`, `user_keys` and `revoke_user_key` (the revoked key raises
    AuthFailed); `update_agent` changes metadata (a bad field is `bad_request` before
    any request), `agent` reads it back, `agent_keys` lists keys without their text;
    `agent_config` and `config_revision` read the current and an old revision."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        name = fresh_name("sdk")
        await rest.sign_up(name, "correct horse", display_name="Ada")
        user_key = (await rest.log_in(name, "correct horse", key_name="laptop")).token
        assert (await rest.me(user_key)).display_name == "Ada"
        ci = await rest.create_user_key(user_key, "ci")
        assert ci.token.startswith("usr_") and (await rest.me(ci.token)).username == name
        keys = await rest.user_keys(user_key)
        assert [k.name for k in keys] == ["laptop", "ci"] and ci.token not in repr(keys)
        revoked = await rest.revoke_user_key(user_key, ci.key.id)
        assert revoked.revoked_at is not None
        with pytest.raises(AuthFailed):
            await rest.me(ci.token)

        a = await rest.create_agent(user_key, slug=fresh_slug("sdk"), name="A", config={"m": 1})
        changed = await rest.update_agent(
            user_key, a.slug, visibility="public", description="plans", name="Planner"
        )
        assert (changed.visibility, changed.description, changed.name) == (
            "public",
            "plans",
            "Planner",
        )
        assert (await rest.agent(user_key, a.slug)).name == "Planner"
        with pytest.raises(HubClientError) as bad:
            await rest.update_agent(user_key, a.slug, visibility="everyone")
        assert bad.value.code == "bad_request"
        made = await rest.create_agent_key(user_key, a.slug, "prod")
        listed = await rest.agent_keys(user_key, a.slug)
        assert [k.name for k in listed] == ["prod"] and made.token not in repr(listed)
        await rest.put_agent_config(user_key, a.slug, {"m": 2}, 1)
        assert (await rest.agent_config(user_key, a.slug)).config == {"m": 2}
        assert (await rest.config_revision(user_key, a.slug, 1)).config == {"m": 1}


async def test_agents_rate_each_other_and_the_directory_shows_them(hub_server: TestServer) -> None:
    """`rate` with an agent key or a user key naming one's agent (not both); `ratings`
    pages newest first; `directory` and `agent_card` need no key."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        name = fresh_name("sdk")
        await rest.sign_up(name, "correct horse")
        user_key = (await rest.log_in(name, "correct horse")).token
        word = fresh_slug("word")
        a = await rest.create_agent(
            user_key, slug=fresh_slug("sdk"), name="A", visibility="public", description=word
        )
        b = await rest.create_agent(user_key, slug=fresh_slug("sdk"), name="B")
        a_key = (await rest.create_agent_key(user_key, a.slug, "prod")).token
        b_key = (await rest.create_agent_key(user_key, b.slug, "prod")).token
        for _ in range(2):
            created = await rest.create_session(agent_key=a_key)
            await rest.join(created.invite_code, agent_key=b_key)
            await rest.update_session(created.session.id, created.agent_token, status="completed")
            given = await rest.rate(created.session.id, 5, "good", agent_key=b_key)
            assert (given.rater, given.ratee, given.score) == (b.slug, a.slug, 5)
        back = await rest.rate(created.session.id, 2, user_key=user_key, as_agent=a.slug)
        assert (back.rater, back.ratee, back.score, back.review) == (a.slug, b.slug, 2, "")
        with pytest.raises(HubClientError) as both:
            await rest.rate(created.session.id, 3, agent_key=a_key, user_key=user_key)
        assert both.value.code == "bad_request"

        first = await rest.ratings(user_key, a.slug, limit=1)
        assert [r.session_id for r in first.ratings] == [created.session.id]
        assert first.next is not None
        second = await rest.ratings(user_key, a.slug, limit=1, cursor=first.next)
        assert len(second.ratings) == 1 and second.ratings[0].session_id != created.session.id

    async with HubAPI(base) as anyone:
        page = await anyone.directory(q=word, sort="activity")
        assert [(e.slug, e.rating_count, e.rating_mean) for e in page.agents] == [(a.slug, 2, 5.0)]
        card = await anyone.agent_card(a.slug)
        assert card.ratings.count == 2 and card.description == word
        with pytest.raises(HubClientError) as unlisted:
            await anyone.agent_card(b.slug)
        assert unlisted.value.code == "not_found"


async def test_the_configuration_schema_is_set_read_and_enforced(hub_server: TestServer) -> None:
    """`set_config_schema` sets the schema `config_schema` reads back; a revision that
    breaks it raises `HubClientError` `bad_request` naming the path; None clears it."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        name = fresh_name("sdk")
        password = "correct horse"
        await rest.request("POST", "/api/users", body={"username": name, "password": password})
        logged = await rest.request(
            "POST", "/api/login", body={"username": name, "password": password}
        )
        user_key = logged["token"]
        a = await rest.create_agent(user_key, slug=fresh_slug("sdk"), name="A", config={"m": 1})
        assert await rest.config_schema(user_key, a.slug) is None
        schema = {"properties": {"m": {"type": "integer"}}}
        assert await rest.set_config_schema(user_key, a.slug, schema) == schema
        assert await rest.config_schema(user_key, a.slug) == schema
        with pytest.raises(HubClientError) as broken:
            await rest.put_agent_config(user_key, a.slug, {"m": "one"}, 1)
        assert broken.value.code == "bad_request" and "$.m" in str(broken.value)
        with pytest.raises(HubClientError) as remote:
            await rest.set_config_schema(user_key, a.slug, {"$ref": "http://127.0.0.1:9/s"})
        assert remote.value.code == "bad_request"
        assert await rest.set_config_schema(user_key, a.slug, None) is None
        assert (await rest.put_agent_config(user_key, a.slug, {"m": "one"}, 1)).revision == 2


async def test_spaces_with_the_sdk(hub_server: TestServer) -> None:
    """A person makes a space and adds another as a member, whose verified agent creates
    a session in it; the session is listed in the space, moved out, and the space
    archived; a member may not archive it (`forbidden`)."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        keys = []
        for _ in range(2):
            name = fresh_name("sdk")
            await rest.sign_up(name, "correct horse")
            keys.append(((await rest.log_in(name, "correct horse")).token, name))
        (ada, _), (bob, bob_name) = keys
        space = await rest.create_space(ada, fresh_slug("lab"), "Lab")
        member = await rest.set_space_member(ada, space.slug, bob_name, "member")
        assert member.role == "member"
        assert [m.username for m in await rest.space_members(bob, space.id)][1] == bob_name
        agent = await rest.create_agent(bob, slug=fresh_slug("sdk"), name="B")
        key = (await rest.create_agent_key(bob, agent.slug, "prod")).token
        created = await rest.create_session(agent_key=key, workspace_id=space.slug)
        page = await rest.space_sessions(ada, space.slug)
        assert [s.id for s in page.sessions] == [created.session.id]
        assert (await rest.space_sessions(ada, space.slug, agent=agent.slug)).sessions
        assert not (await rest.space_sessions(ada, space.slug, status="completed")).sessions
        assert [(s.slug, s.role) for s in await rest.spaces(bob)] == [(space.slug, "member")]
        with pytest.raises(HubClientError) as refused:
            await rest.update_space(bob, space.slug, archived=True)
        assert refused.value.code == "forbidden"
        moved = await rest.move_session(ada, created.session.id, None)
        assert moved.workspace_id is None
        archived = await rest.update_space(ada, space.slug, archived=True)
        assert archived.archived_at is not None
        await rest.remove_space_member(bob, space.slug, bob_name)
        assert await rest.spaces(bob) == []
