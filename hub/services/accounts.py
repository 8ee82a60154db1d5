"""People: sign-up, log-in (which issues a user key) and the keys themselves.

Passwords are checked off the event loop (Argon2id takes tens of milliseconds). Log-in
is limited per client address and, against guessing one account's password from many
addresses, per account: `login_failures_per_account` failures, then one more every 90
seconds, counted over every process (and exact for attempts made at once).
"""

from __future__ import annotations

import asyncio

from nanoid import generate as nanoid

from hub import api
from hub.config import Config
from hub.domain import User, UserKey, UserPrincipal
from hub.errors import HubError
from hub.security import check_password, hash_password, hash_token, new_key
from hub.services.access import Access
from hub.store import Connection, Store, changes
from hub.store import users as user_store

__all__ = ["Accounts"]

_USER_KEY = "usr_"
_WRONG = "wrong username or password"
_FAILURE_REFILL_SECONDS = 90.0


class Accounts:
    def __init__(self, config: Config, store: Store, access: Access) -> None:
        self._config = config
        self._store = store
        self._access = access

    async def sign_up(self, req: api.SignUp, client_key: str) -> User:
        """Create an account; `conflict` if the username or email is taken."""
        await self._access.limit(
            "signup",
            client_key,
            self._config.signups_per_minute,
            "too many accounts created from your address; wait a minute",
        )
        password_hash = await asyncio.to_thread(hash_password, req.password)
        async with self._store.transaction() as conn:
            user = await user_store.create_user(
                conn,
                user_id="u_" + str(nanoid(size=16)),
                username=req.username,
                email=req.email,
                display_name=req.display_name or req.username,
                password_hash=password_hash,
            )
            await changes.audit(conn, None, user.id, "user.created", {"username": user.username})
        return user

    async def log_in(self, req: api.LogIn, client_key: str) -> api.LoggedIn:
        """Check the password and issue a new user key; `unauthorized` (the same answer
        for an unknown name and a wrong password) or `rate_limited`."""
        await self._access.limit(
            "login",
            client_key,
            self._config.login_attempts_per_minute,
            "too many log-in attempts from your address; wait a minute",
        )
        account = req.username.lower()
        per_minute = 60.0 / _FAILURE_REFILL_SECONDS
        burst = self._config.login_failures_per_account
        # Every attempt takes a failure token before its password is checked and a right
        # password gives it back: attempts made at once cannot all pass a look at the
        # bucket before the first of them has failed.
        wait = await self._access.take("login-failures", account, per_minute, burst=burst)
        if wait > 0:
            raise self._access.refusal(
                "login-failures", "too many failed log-ins for this account; retry later", wait
            )
        async with self._store.connection() as conn:
            found = await user_store.login_target(conn, req.username)
        stored = found[1] if found is not None else None
        ok, rehash = await asyncio.to_thread(check_password, stored, req.password)
        if not ok or found is None:
            raise HubError("unauthorized", _WRONG)
        await self._access.take("login-failures", account, per_minute, -1, burst=burst)
        user = found[0]
        new_hash = await asyncio.to_thread(hash_password, req.password) if rehash else None
        token = new_key(_USER_KEY)
        async with self._store.transaction() as conn:
            if new_hash is not None:
                await user_store.replace_password_hash(conn, user.id, new_hash)
            key = await self._add_key(conn, user.id, req.key_name, token)
            await changes.audit(conn, None, user.id, "user.logged_in", {"key_id": key.id})
        return api.LoggedIn(user=user, key=key, token=token)

    async def authenticate(self, token: str | None) -> UserPrincipal:
        """The person a user key speaks for; `unauthorized` if none (or revoked)."""
        if not token or not token.startswith(_USER_KEY) or len(token) > 100:
            raise HubError("unauthorized", "a valid user key (usr_…) is required")
        async with self._store.connection() as conn:
            found = await user_store.principal_for_key(conn, hash_token(token))
        if found is None:
            raise HubError("unauthorized", "unknown or revoked user key")
        return found

    async def me(self, who: UserPrincipal) -> User:
        async with self._store.connection() as conn:
            return await user_store.get_user(conn, who.user_id)

    async def keys(self, who: UserPrincipal) -> list[UserKey]:
        async with self._store.connection() as conn:
            return await user_store.list_keys(conn, who.user_id)

    async def create_key(self, who: UserPrincipal, name: str) -> api.CreatedKey:
        """Another user key (for a program, say), shown once."""
        token = new_key(_USER_KEY)
        async with self._store.transaction() as conn:
            key = await self._add_key(conn, who.user_id, name, token)
            await changes.audit(conn, who, who.user_id, "key.created", {"key_id": key.id})
        return api.CreatedKey(key=key, token=token)

    async def revoke_key(self, who: UserPrincipal, key_id: str) -> UserKey:
        """Revoke one of one's keys (the one in use too); it stops working at once."""
        async with self._store.transaction() as conn:
            key = await user_store.revoke_key(conn, who.user_id, key_id)
            await changes.audit(conn, who, who.user_id, "key.revoked", {"key_id": key.id})
        return key

    async def _add_key(self, conn: Connection, user_id: str, name: str, token: str) -> UserKey:
        return await user_store.add_key(
            conn,
            key_id="key_" + str(nanoid(size=16)),
            user_id=user_id,
            name=name,
            key_hash=hash_token(token),
        )
