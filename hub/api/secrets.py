"""REST bodies of the credentials vault."""

from __future__ import annotations

import msgspec

from hub.domain import Secret, SecretValue

__all__ = ["RevealedSecret", "SecretList", "SetSecret"]


class SetSecret(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    value: SecretValue
    """The secret itself (1-16,384 characters); stored sealed, read back only by you."""


class SecretList(msgspec.Struct, kw_only=True):
    secrets: list[Secret]


class RevealedSecret(msgspec.Struct, kw_only=True):
    """A secret's value, for its owner (each such read is written to the audit log)."""

    name: str
    value: str
