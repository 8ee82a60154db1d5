"""Agent profiles: a person's agents, their agent keys (`agk_…`, shown once, revocable)
and their versioned configuration (each change a new revision, at the revision the
editor read; a rollback is a new revision too), optionally held to a JSON Schema that
the current revision and every new one satisfy.

Only the owner sees a profile's keys and configuration or changes it; another person
sees a public profile and nothing else (an unlisted one is `not_found` to them, as if it
did not exist).
"""

from __future__ import annotations

from typing import Any

from nanoid import generate as nanoid

from hub import api
from hub.domain import (
    AgentKey,
    AgentPrincipal,
    AgentProfile,
    ConfigRevision,
    UserPrincipal,
    diff_config,
)
from hub.domain.profiles import check_conforms
from hub.errors import HubError
from hub.security import hash_token, new_key
from hub.store import Connection, Store, changes
from hub.store import profiles as profile_store

__all__ = ["AGENT_KEY_PREFIX", "Profiles", "agent_for_key"]

AGENT_KEY_PREFIX = "agk_"


async def agent_for_key(conn: Connection, token: str) -> AgentPrincipal:
    """The profile an agent key speaks for, read inside the caller's transaction;
    `unauthorized` if unknown or revoked."""
    if not token.startswith(AGENT_KEY_PREFIX) or len(token) > 100:
        raise HubError("unauthorized", "a valid agent key (agk_…) is required")
    found = await profile_store.agent_for_key(conn, hash_token(token))
    if found is None:
        raise HubError("unauthorized", "unknown or revoked agent key")
    return found


class Profiles:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, who: UserPrincipal, req: api.NewProfile) -> AgentProfile:
        """A new profile of the caller's, at configuration revision 1; `conflict` if
        the slug (any case) is taken."""
        async with self._store.transaction() as conn:
            profile = await profile_store.create_profile(
                conn,
                profile_id="agp_" + str(nanoid(size=16)),
                user_id=who.user_id,
                slug=req.slug,
                name=req.name,
                description=req.description,
                skills=req.skills,
                visibility=req.visibility,
                avatar_url=req.avatar_url,
                config=req.config,
            )
            await changes.audit(conn, who, who.user_id, "agent.created", {"profile_id": profile.id})
        return profile

    async def mine(self, who: UserPrincipal) -> list[AgentProfile]:
        async with self._store.connection() as conn:
            return await profile_store.list_profiles(conn, who.user_id)

    async def get(self, who: UserPrincipal, slug: str) -> AgentProfile:
        """A profile of the caller's, or anyone's public one."""
        async with self._store.connection() as conn:
            found = await profile_store.find_profile(conn, slug)
        if found is None or (found[1] != who.user_id and found[0].visibility != "public"):
            raise _no_such(slug)
        return found[0]

    async def update(self, who: UserPrincipal, slug: str, req: api.ProfileUpdate) -> AgentProfile:
        """Change the metadata given (the owner)."""
        wanted: dict[str, Any] = {
            "name": req.name,
            "description": req.description,
            "skills": req.skills,
            "visibility": req.visibility,
            "avatar_url": req.avatar_url,
        }
        wanted = {k: v for k, v in wanted.items() if v is not None}
        if not wanted:
            raise HubError("bad_request", "nothing to change")
        async with self._store.transaction() as conn:
            profile = await self._own(conn, who, slug)
            updated = await profile_store.update_profile(conn, profile.id, **wanted)
            await changes.audit(
                conn,
                who,
                who.user_id,
                "agent.updated",
                {"profile_id": profile.id, "fields": sorted(wanted)},
            )
        return updated

    async def keys(self, who: UserPrincipal, slug: str) -> list[AgentKey]:
        async with self._store.connection() as conn:
            profile = await self._own(conn, who, slug)
            return await profile_store.list_keys(conn, profile.id)

    async def create_key(self, who: UserPrincipal, slug: str, name: str) -> api.CreatedAgentKey:
        """A new agent key for the profile (the owner), shown once."""
        token = new_key(AGENT_KEY_PREFIX)
        async with self._store.transaction() as conn:
            profile = await self._own(conn, who, slug)
            key = await profile_store.add_key(
                conn,
                key_id="akey_" + str(nanoid(size=16)),
                profile_id=profile.id,
                name=name,
                key_hash=hash_token(token),
            )
            await changes.audit(
                conn,
                who,
                who.user_id,
                "agent_key.created",
                {"profile_id": profile.id, "key_id": key.id},
            )
        return api.CreatedAgentKey(key=key, token=token)

    async def revoke_key(self, who: UserPrincipal, slug: str, key_id: str) -> AgentKey:
        """Revoke one of the profile's keys (the owner); it stops working at once."""
        async with self._store.transaction() as conn:
            profile = await self._own(conn, who, slug)
            key = await profile_store.revoke_key(conn, profile.id, key_id)
            await changes.audit(
                conn,
                who,
                who.user_id,
                "agent_key.revoked",
                {"profile_id": profile.id, "key_id": key.id},
            )
        return key

    async def config(self, who: UserPrincipal, slug: str) -> ConfigRevision:
        """The current configuration revision (the owner)."""
        async with self._store.connection() as conn:
            profile = await self._own(conn, who, slug)
            return await profile_store.get_revision(conn, profile.id, profile.current_revision)

    async def revision(self, who: UserPrincipal, slug: str, revision: int) -> ConfigRevision:
        async with self._store.connection() as conn:
            profile = await self._own(conn, who, slug)
            return await profile_store.get_revision(conn, profile.id, revision)

    async def history(
        self, who: UserPrincipal, slug: str, query: api.RevisionQuery
    ) -> api.RevisionPage:
        """Revisions newest first, a page at a time (keyset: `before` a revision)."""
        async with self._store.connection() as conn:
            profile = await self._own(conn, who, slug)
            revisions = await profile_store.list_revisions(
                conn, profile.id, before=query.before, limit=query.limit
            )
        last = revisions[-1].revision if revisions else 1
        more = len(revisions) == query.limit and last > 1
        return api.RevisionPage(revisions=revisions, next_before=last if more else None)

    async def diff(self, who: UserPrincipal, slug: str, old: int, new: int) -> api.RevisionDiff:
        """What changed from revision `old` to revision `new`, by JSON path."""
        async with self._store.connection() as conn:
            profile = await self._own(conn, who, slug)
            before = await profile_store.get_revision(conn, profile.id, old)
            after = await profile_store.get_revision(conn, profile.id, new)
        found = diff_config(before.config, after.config)
        return api.RevisionDiff(
            from_=old, to=new, added=found.added, removed=found.removed, changed=found.changed
        )

    async def revise(self, who: UserPrincipal, slug: str, req: api.ConfigUpdate) -> ConfigRevision:
        """Write revision N+1 if the configuration is still at `expected_revision` N
        (otherwise `conflict` carrying the current revision) and satisfies the schema in
        force (otherwise `bad_request` naming where it does not)."""
        async with self._store.transaction() as conn:
            profile = await self._own(conn, who, slug)
            _, schema = await profile_store.lock_profile(conn, profile.id)
            check_conforms(schema, req.config, "the configuration")
            revision = await profile_store.revise(
                conn,
                profile.id,
                expected_revision=req.expected_revision,
                config=req.config,
                author_id=who.user_id,
            )
            await changes.audit(
                conn,
                who,
                who.user_id,
                "agent_config.revised",
                {"profile_id": profile.id, "revision": revision.revision},
            )
        return revision

    async def rollback(self, who: UserPrincipal, slug: str, req: api.Rollback) -> ConfigRevision:
        """A new revision equal to revision `to` (history is never rewritten), at
        `expected_revision` and held to the schema in force like any other change."""
        async with self._store.transaction() as conn:
            profile = await self._own(conn, who, slug)
            _, schema = await profile_store.lock_profile(conn, profile.id)
            target = await profile_store.get_revision(conn, profile.id, req.to)
            check_conforms(schema, target.config, f"revision {target.revision}")
            revision = await profile_store.revise(
                conn,
                profile.id,
                expected_revision=req.expected_revision,
                config=target.config,
                author_id=who.user_id,
                rollback_of=target.revision,
            )
            await changes.audit(
                conn,
                who,
                who.user_id,
                "agent_config.rolled_back",
                {"profile_id": profile.id, "revision": revision.revision, "to": req.to},
            )
        return revision

    async def config_schema(self, who: UserPrincipal, slug: str) -> api.ConfigSchema:
        """The configuration schema in force (the owner); null if none."""
        async with self._store.connection() as conn:
            profile = await self._own(conn, who, slug)
            schema = await profile_store.config_schema(conn, profile.id)
        return api.ConfigSchema(schema=schema)

    async def set_config_schema(
        self, who: UserPrincipal, slug: str, req: api.SetConfigSchema
    ) -> api.ConfigSchema:
        """Set the configuration schema (the owner), or clear it with None; a schema the
        current revision does not satisfy is `bad_request` (naming where), and nothing
        changes."""
        async with self._store.transaction() as conn:
            profile = await self._own(conn, who, slug)
            current_number, _ = await profile_store.lock_profile(conn, profile.id)
            current = await profile_store.get_revision(conn, profile.id, current_number)
            check_conforms(req.schema, current.config, f"the current revision {current_number}")
            await profile_store.set_config_schema(conn, profile.id, req.schema)
            cleared = req.schema is None
            await changes.audit(
                conn,
                who,
                who.user_id,
                "agent_config.schema_cleared" if cleared else "agent_config.schema_set",
                {"profile_id": profile.id, "revision": current_number},
            )
        return api.ConfigSchema(schema=req.schema)

    async def _own(self, conn: Connection, who: UserPrincipal, slug: str) -> AgentProfile:
        """The caller's profile named `slug`; anyone else's is `not_found` to them."""
        found = await profile_store.find_profile(conn, slug)
        if found is None or found[1] != who.user_id:
            raise _no_such(slug)
        return found[0]


def _no_such(slug: str) -> HubError:
    return HubError("not_found", f"no agent {slug[:64]!r}")
