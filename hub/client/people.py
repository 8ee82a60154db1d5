"""The REST API of what people own: their accounts and user keys, their agents (profiles,
agent keys, versioned configuration, ratings) and their secrets; and the public directory
of agents. A user key (`usr_…`) opens what a person owns; an agent key (`agk_…`) rates
and reads its owner's secrets; the directory and the agent cards need no key."""

from __future__ import annotations

import urllib.parse
from typing import Any

import msgspec

from hub import api
from hub.client.errors import HubClientError
from hub.client.transport import RestClient
from hub.domain import (
    AgentCard,
    AgentKey,
    AgentProfile,
    ConfigRevision,
    DirectorySort,
    Rating,
    Secret,
    User,
    UserKey,
)

__all__ = ["PeopleAPI"]


def _agent(slug: str, rest: str = "") -> str:
    return "/api/agents/" + urllib.parse.quote(slug, safe="") + rest


def _secret(name: str) -> str:
    return "/api/me/secrets/" + urllib.parse.quote(name, safe="")


class PeopleAPI(RestClient):
    # -- people: accounts and user keys (usr_…) ------------------------------------------

    async def sign_up(
        self,
        username: str,
        password: str,
        *,
        display_name: str | None = None,
        email: str | None = None,
    ) -> User:
        """Create an account; `HubClientError` `conflict` if the name or email is taken."""
        body = api.SignUp(
            username=username, password=password, display_name=display_name, email=email
        )
        return await self._typed(User, "POST", "/api/users", body=body)

    async def log_in(
        self, username: str, password: str, *, key_name: str = "log-in"
    ) -> api.LoggedIn:
        """A new user key (`.token`, shown once) named `key_name`."""
        body = api.LogIn(username=username, password=password, key_name=key_name)
        return await self._typed(api.LoggedIn, "POST", "/api/login", body=body)

    async def me(self, user_key: str) -> User:
        return await self._typed(User, "GET", "/api/me", token=user_key)

    async def user_keys(self, user_key: str) -> list[UserKey]:
        listed = await self._typed(api.KeyList, "GET", "/api/me/keys", token=user_key)
        return listed.keys

    async def create_user_key(self, user_key: str, name: str) -> api.CreatedKey:
        body = api.NewKey(name=name)
        return await self._typed(api.CreatedKey, "POST", "/api/me/keys", token=user_key, body=body)

    async def revoke_user_key(self, user_key: str, key_id: str) -> UserKey:
        path = f"/api/me/keys/{urllib.parse.quote(key_id, safe='')}"
        return await self._typed(UserKey, "DELETE", path, token=user_key)

    # --- agent profiles (a user key, `usr_…`) ------------------------------------------

    async def create_agent(self, user_key: str, **fields: Any) -> AgentProfile:
        """Create an agent profile (fields as `api.NewProfile`) at config revision 1."""
        try:
            body = msgspec.convert(fields, api.NewProfile)
        except (msgspec.ValidationError, ValueError) as exc:
            raise HubClientError("bad_request", str(exc)) from None
        return await self._typed(AgentProfile, "POST", "/api/me/agents", token=user_key, body=body)

    async def my_agents(self, user_key: str) -> list[AgentProfile]:
        listed = await self._typed(api.ProfileList, "GET", "/api/me/agents", token=user_key)
        return listed.profiles

    async def agent(self, user_key: str, slug: str) -> AgentProfile:
        """A profile of yours, or anyone's public one."""
        return await self._typed(AgentProfile, "GET", _agent(slug), token=user_key)

    async def update_agent(self, user_key: str, slug: str, **fields: Any) -> AgentProfile:
        """Change a profile's metadata (fields as `api.ProfileUpdate`)."""
        try:
            body = msgspec.convert(fields, api.ProfileUpdate)
        except (msgspec.ValidationError, ValueError) as exc:
            raise HubClientError("bad_request", str(exc)) from None
        return await self._typed(AgentProfile, "PATCH", _agent(slug), token=user_key, body=body)

    async def create_agent_key(self, user_key: str, slug: str, name: str) -> api.CreatedAgentKey:
        """A new agent key (`agk_…`) for the profile, shown once."""
        body = api.NewAgentKey(name=name)
        path = _agent(slug, "/keys")
        return await self._typed(api.CreatedAgentKey, "POST", path, token=user_key, body=body)

    async def agent_keys(self, user_key: str, slug: str) -> list[AgentKey]:
        path = _agent(slug, "/keys")
        return (await self._typed(api.AgentKeyList, "GET", path, token=user_key)).keys

    async def revoke_agent_key(self, user_key: str, slug: str, key_id: str) -> AgentKey:
        path = _agent(slug, "/keys/" + urllib.parse.quote(key_id, safe=""))
        return await self._typed(AgentKey, "DELETE", path, token=user_key)

    async def agent_config(self, user_key: str, slug: str) -> ConfigRevision:
        """The current configuration revision."""
        return await self._typed(ConfigRevision, "GET", _agent(slug, "/config"), token=user_key)

    async def put_agent_config(
        self, user_key: str, slug: str, config: dict[str, Any], expected_revision: int
    ) -> ConfigRevision:
        """Write revision `expected_revision + 1`; `Conflict` (its `revision` the current
        one) if the configuration has moved on."""
        body = api.ConfigUpdate(config=config, expected_revision=expected_revision)
        path = _agent(slug, "/config")
        return await self._typed(ConfigRevision, "PUT", path, token=user_key, body=body)

    async def config_revisions(
        self, user_key: str, slug: str, *, before: int | None = None, limit: int = 50
    ) -> api.RevisionPage:
        """A page of the configuration's history, newest first."""
        return await self._typed(
            api.RevisionPage,
            "GET",
            _agent(slug, "/config/revisions"),
            token=user_key,
            params={"before": before, "limit": limit},
        )

    async def config_revision(self, user_key: str, slug: str, revision: int) -> ConfigRevision:
        path = _agent(slug, f"/config/revisions/{revision}")
        return await self._typed(ConfigRevision, "GET", path, token=user_key)

    async def config_diff(self, user_key: str, slug: str, old: int, new: int) -> api.RevisionDiff:
        """What changed from revision `old` to revision `new`, by JSON path."""
        return await self._typed(
            api.RevisionDiff,
            "GET",
            _agent(slug, "/config/diff"),
            token=user_key,
            params={"from": old, "to": new},
        )

    async def rollback_agent_config(
        self, user_key: str, slug: str, to: int, expected_revision: int
    ) -> ConfigRevision:
        """A new revision equal to revision `to` (history is kept)."""
        body = api.Rollback(to=to, expected_revision=expected_revision)
        path = _agent(slug, "/config/rollback")
        return await self._typed(ConfigRevision, "POST", path, token=user_key, body=body)

    async def config_schema(self, user_key: str, slug: str) -> dict[str, Any] | None:
        """The JSON Schema (draft 2020-12) every configuration revision must satisfy, or
        None if there is none."""
        answer = await self.request("GET", _agent(slug, "/config/schema"), token=user_key)
        schema: dict[str, Any] | None = answer["schema"]
        return schema

    async def set_config_schema(
        self, user_key: str, slug: str, schema: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Set the configuration schema (None clears it). The hub checks it: an invalid
        schema, a `$ref` outside it, or one the current revision does not satisfy is
        `HubClientError` `bad_request` (saying where) and nothing changes."""
        path = _agent(slug, "/config/schema")
        answer = await self.request("PUT", path, token=user_key, body={"schema": schema})
        stored: dict[str, Any] | None = answer["schema"]
        return stored

    async def set_secret(self, user_key: str, name: str, value: str) -> Secret:
        """Set or replace one's secret `name` (a user key, `usr_…`); the value is stored
        encrypted and never comes back in a listing."""
        return await self._typed(
            Secret,
            "PUT",
            _secret(name),
            token=user_key,
            body=api.SetSecret(value=value),
        )

    async def secrets(self, user_key: str) -> list[Secret]:
        """One's secrets: names and times, never values."""
        listed = await self._typed(api.SecretList, "GET", "/api/me/secrets", token=user_key)
        return listed.secrets

    async def get_secret(self, user_key: str, name: str) -> str:
        """The value of one's secret `name` (the read is written to one's audit log);
        `HubClientError` `not_found` if there is none. `user_key` may also be an agent key
        (`agk_…`) of one of the owner's agents: the read is then audited as the agent's."""
        path = _secret(name)
        return (await self._typed(api.RevealedSecret, "GET", path, token=user_key)).value

    async def delete_secret(self, user_key: str, name: str) -> None:
        """Delete one's secret `name` for good; `not_found` if there is none."""
        await self.request("DELETE", _secret(name), token=user_key)

    # --- ratings (an agent key, or a user key naming one's agent) -----------------------

    async def rate(
        self,
        session_id: str,
        score: int,
        review: str = "",
        *,
        agent_key: str | None = None,
        user_key: str | None = None,
        as_agent: str | None = None,
    ) -> Rating:
        """Rate (1 to 5) the other agent of a completed session both agents entered with
        their keys; again to change it. With `agent_key` (`agk_…`) that agent rates; with
        `user_key`, your agent `as_agent` does. `HubClientError` `forbidden` unless the
        rater was agent A or B of it, `invalid_transition` before it is completed."""
        if (agent_key is None) == (user_key is None):
            raise HubClientError("bad_request", "give an agent key or a user key (one of them)")
        body = api.RateBody(score=score, review=review, as_agent=as_agent)
        path = f"/api/sessions/{urllib.parse.quote(session_id, safe='')}/rating"
        return await self._typed(Rating, "PUT", path, token=agent_key or user_key, body=body)

    async def ratings(
        self, user_key: str, slug: str, limit: int = 20, cursor: str | None = None
    ) -> api.RatingPage:
        """A page of the ratings an agent (yours, or a public one) received, newest first;
        pass the page's `next` as `cursor` for the following one."""
        return await self._typed(
            api.RatingPage,
            "GET",
            _agent(slug, "/ratings"),
            token=user_key,
            params={"limit": limit, "cursor": cursor},
        )

    # --- the public directory (no key) ---------------------------------------------------

    async def directory(
        self,
        q: str | None = None,
        skill: str | None = None,
        tag: str | None = None,
        sort: DirectorySort = "rating",
        limit: int = 20,
        cursor: str | None = None,
    ) -> api.DirectoryPage:
        """A page of the public agents: `q` words in the name, slug, description, or a
        skill's name or tag; a `skill` (its id or name, in any case); a skill `tag`; best
        rated (`sort="rating"`) or most recently active (`"activity"`) first; pass the
        page's `next` as `cursor` for the following one."""
        return await self._typed(
            api.DirectoryPage,
            "GET",
            "/api/agents",
            params={
                "q": q,
                "skill": skill,
                "tag": tag,
                "sort": sort,
                "limit": limit,
                "cursor": cursor,
            },
        )

    async def agent_card(self, slug: str) -> AgentCard:
        """A public agent's A2A-style card; `not_found` for one that is not public."""
        return await self._typed(AgentCard, "GET", _agent(slug, "/card"))
