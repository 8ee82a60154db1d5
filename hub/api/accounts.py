"""REST bodies of people's accounts: sign-up, log-in, and user keys."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.api.sessions import DisplayName
from hub.domain import Email, KeyName, Password, User, UserKey, Username

__all__ = ["CreatedKey", "KeyList", "LogIn", "LoggedIn", "NewKey", "SignUp"]


class SignUp(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    username: Username
    """Unique whatever its case ("Ada" and "ada" are one name)."""
    password: Password
    display_name: DisplayName | None = None
    """Unset: the username."""
    email: Email | None = None
    """Optional; unique whatever its case."""


class LogIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(max_length=254)]
    password: str
    key_name: KeyName = "log-in"
    """The name of the user key this log-in issues (listed with the keys)."""


class NewKey(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: KeyName


class CreatedKey(msgspec.Struct, kw_only=True):
    """Shown once: the key's text is not stored and cannot be read back."""

    key: UserKey
    token: str
    """The key itself (`usr_…`): send it as `Authorization: Bearer <token>`."""


class LoggedIn(msgspec.Struct, kw_only=True):
    user: User
    key: UserKey
    token: str
    """A new user key (`usr_…`), shown once; it lasts until revoked."""


class KeyList(msgspec.Struct, kw_only=True):
    keys: list[UserKey]
