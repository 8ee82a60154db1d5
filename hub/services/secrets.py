"""The credentials vault: a person's named third-party secrets, sealed at rest.

A value is sealed (`hub.vault.Keyring`) before it reaches the store and opened only for
its owner; every change and every read writes its audit row in the same transaction, so
the log holds exactly the reads that returned a value. Values are never logged, and no
error message carries one. Another person's secret answers `not_found`, as one that does
not exist, so a name reveals nothing.

A value that does not open (its row altered, moved to another owner or name, or sealed
with a key `HUB_SECRET_KEY` no longer holds) answers `conflict`: the stored state, not
the request, is at fault, and setting the secret again is the way out. It is logged as a
warning naming the owner, the secret and the key id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hub.domain import AgentPrincipal, AuditAction, Secret, UserPrincipal
from hub.errors import HubError
from hub.services.profiles import agent_for_key
from hub.store import Store, changes
from hub.store import secrets as secret_store
from hub.vault import Keyring, Sealed, Unreadable

__all__ = ["Rotation", "Secrets"]

log = logging.getLogger("hub.vault")

ROTATE_BATCH = 100
"""Rows resealed per transaction by `rotate` (each transaction holds their row locks)."""


def _missing() -> HubError:
    return HubError("not_found", "you have no secret by that name")


@dataclass
class Rotation:
    """What `Secrets.rotate` did: rows resealed with the newest key, and the ids of rows
    it could not open (left as they are)."""

    resealed: int = 0
    unreadable: list[int] = field(default_factory=list)


class Secrets:
    def __init__(self, store: Store, keyring: Keyring) -> None:
        self._store = store
        self._keyring = keyring

    async def put(self, who: UserPrincipal, name: str, value: str) -> tuple[Secret, bool]:
        """Set or replace one's secret `name`; returns it (never its value) and whether
        it was created."""
        sealed = self._keyring.encrypt(who.user_id, name, value.encode())
        async with self._store.transaction() as conn:
            secret, created = await secret_store.put(conn, who.user_id, name, sealed)
            action: AuditAction = "secret.created" if created else "secret.replaced"
            await changes.audit(conn, who, who.user_id, action, {"name": name})
        return secret, created

    async def listing(self, who: UserPrincipal) -> list[Secret]:
        """One's secrets by name, with their times, never their values (not audited:
        nothing secret is returned)."""
        async with self._store.connection() as conn:
            return await secret_store.list_secrets(conn, who.user_id)

    async def read(
        self, name: str, *, who: UserPrincipal | None = None, agent_key: str | None = None
    ) -> str:
        """The value of one's secret `name` (a person through a user key, or one of their
        agents through its agent key), its use noted and audited with who read it;
        `not_found`, or `conflict` if the stored value does not open."""
        async with self._store.transaction() as conn:
            actor: UserPrincipal | AgentPrincipal
            if agent_key is not None:
                actor = await agent_for_key(conn, agent_key)
                owner = actor.owner_id
            elif who is not None:
                actor, owner = who, who.user_id
            else:
                raise HubError("unauthorized", "a user key or an agent key is required")
            sealed = await secret_store.read(conn, owner, name)
            if sealed is None:
                raise _missing()
            try:
                value = self._keyring.decrypt(owner, name, sealed).decode()
            except Unreadable as exc:
                log.warning("secret %r of %s does not open: %s", name, owner, exc)
                raise HubError(
                    "conflict",
                    "this secret's stored value cannot be decrypted (altered, or sealed with"
                    " a retired key): set it again",
                ) from None
            await changes.audit(conn, actor, owner, "secret.read", {"name": name})
        return value

    async def delete(self, who: UserPrincipal, name: str) -> None:
        """Delete one's secret `name` for good (its ciphertext too); `not_found`."""
        async with self._store.transaction() as conn:
            if not await secret_store.delete(conn, who.user_id, name):
                raise _missing()
            await changes.audit(conn, who, who.user_id, "secret.deleted", {"name": name})

    async def rotate(self, batch: int = ROTATE_BATCH) -> Rotation:
        """Reseal with the newest key every row sealed with an older one, `batch` rows a
        transaction, each reseal audited for its owner (by the operator, `system`) in
        that transaction. Idempotent: a second run finds nothing to do. A row that does
        not open is left as it is and reported."""
        done = Rotation()
        after = 0
        while True:
            async with self._store.transaction() as conn:
                rows = await secret_store.stale_batch(conn, self._keyring.newest, after, batch)
                resealed: list[tuple[int, Sealed]] = []
                for row in rows:
                    try:
                        plaintext = self._keyring.decrypt(row.user_id, row.name, row.sealed)
                    except Unreadable:
                        done.unreadable.append(row.id)
                        continue
                    again = self._keyring.encrypt(row.user_id, row.name, plaintext)
                    resealed.append((row.id, again))
                    detail = {"name": row.name, "key_id": again.key_id}
                    await changes.audit(
                        conn, changes.OPERATOR, row.user_id, "secret.resealed", detail
                    )
                await secret_store.reseal(conn, resealed)
                done.resealed += len(resealed)
            if len(rows) < batch:
                return done
            after = rows[-1].id
