"""People's accounts and their user keys."""

from __future__ import annotations

from hub.domain import User, UserKey, UserPrincipal
from hub.errors import HubError
from hub.store import Connection, keys, on_unique, row_to

__all__ = [
    "add_key",
    "create_user",
    "get_user",
    "list_keys",
    "login_target",
    "principal_for_key",
    "replace_password_hash",
    "revoke_key",
    "user_id_of",
]

COLUMNS = "id, username, email, display_name, created_at"


async def create_user(
    conn: Connection,
    *,
    user_id: str,
    username: str,
    email: str | None,
    display_name: str,
    password_hash: str,
) -> User:
    """Insert an account; `conflict` if the username or email (any case) is taken."""
    with on_unique(
        {
            "users_username_key": HubError("conflict", "that username is taken"),
            "users_email_key": HubError("conflict", "that email belongs to another account"),
        }
    ):
        row = await conn.fetchrow(
            f"""INSERT INTO users (id, username, email, display_name, password_hash)
                VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}""",
            user_id,
            username,
            email,
            display_name,
            password_hash,
        )
    assert row is not None
    return row_to(row, User)


async def get_user(conn: Connection, user_id: str) -> User:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM users WHERE id = $1", user_id)
    if row is None:
        raise HubError("not_found", "no such user")
    return row_to(row, User)


async def user_id_of(conn: Connection, username: str) -> str | None:
    """The id of the account named `username` (any case), or None."""
    found: str | None = await conn.fetchval(
        "SELECT id FROM users WHERE lower(username) = lower($1)", username
    )
    return found


async def login_target(conn: Connection, username: str) -> tuple[User, str] | None:
    """The account named `username` (any case) and its password hash, or None."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS}, password_hash FROM users WHERE lower(username) = lower($1)",
        username,
    )
    if row is None:
        return None
    return row_to(row, User), row["password_hash"]


async def replace_password_hash(conn: Connection, user_id: str, password_hash: str) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
        user_id,
        password_hash,
    )


async def add_key(
    conn: Connection, *, key_id: str, user_id: str, name: str, key_hash: bytes
) -> UserKey:
    return await keys.add_key(
        conn,
        "user_keys.user_id",
        user_id,
        key_id=key_id,
        name=name,
        key_hash=key_hash,
        type_=UserKey,
    )


async def principal_for_key(conn: Connection, key_hash: bytes) -> UserPrincipal | None:
    """Who a live (unrevoked) key speaks for, noting that it was used."""
    row = await conn.fetchrow(
        f"""SELECT k.id AS key_id, u.id AS user_id, u.username, {keys.USED_LONG_AGO} AS stale
           FROM user_keys k JOIN users u ON u.id = k.user_id
           WHERE k.key_hash = $1 AND k.revoked_at IS NULL""",
        key_hash,
    )
    if row is None:
        return None
    if row["stale"]:
        await keys.note_used(conn, "user_keys.user_id", row["key_id"])
    return UserPrincipal(user_id=row["user_id"], username=row["username"], key_id=row["key_id"])


async def list_keys(conn: Connection, user_id: str) -> list[UserKey]:
    return await keys.list_keys(conn, "user_keys.user_id", user_id, UserKey)


async def revoke_key(conn: Connection, user_id: str, key_id: str) -> UserKey:
    """Revoke one of the user's keys (again: no change); `not_found` if it is not theirs."""
    return await keys.revoke_key(
        conn, "user_keys.user_id", user_id, key_id, UserKey, "you have no such key"
    )
