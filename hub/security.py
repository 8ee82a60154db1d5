"""Secrets at rest: tokens and keys are random and stored only as their SHA-256;
passwords are hashed with Argon2id at OWASP's current parameters (a hash made with
older ones is replaced at the next log-in)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from nanoid import generate as nanoid

from hub.domain.access import Role

__all__ = [
    "PASSWORDS",
    "check_password",
    "hash_password",
    "hash_token",
    "new_key",
    "new_token",
    "new_webhook_secret",
    "token_matches",
]


def new_token(role: Role) -> str:
    """A capability token: a role prefix and 32 nanoid characters (192 bits)."""
    prefix = "obs_" if role == "observer" else "agt_"
    return prefix + str(nanoid(size=32))


def hash_token(token: str) -> bytes:
    """What is stored for a token: its SHA-256 (tokens carry enough entropy for this)."""
    return hashlib.sha256(token.encode()).digest()


def token_matches(token: str, stored_hash: bytes) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    return hmac.compare_digest(hash_token(token), stored_hash)


def new_key(prefix: str) -> str:
    """A key for a person or a program (`usr_`, `agk_`): the prefix and 32 nanoid
    characters (192 bits)."""
    return prefix + str(nanoid(size=32))


def new_webhook_secret() -> str:
    """A webhook signing secret as the Standard Webhooks specification writes it:
    `whsec_` and the base64 of 32 random bytes (the HMAC-SHA256 key)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


PASSWORDS = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
"""Argon2id with OWASP's recommended minimum (19 MiB of memory, 2 passes, 1 lane)."""


def hash_password(password: str) -> str:
    """The Argon2id hash of a password (CPU-bound, tens of milliseconds: run it off the
    event loop)."""
    return PASSWORDS.hash(password)


@functools.cache
def _decoy() -> str:
    return PASSWORDS.hash(secrets.token_urlsafe(16))


def check_password(stored: str | None, password: str) -> tuple[bool, bool]:
    """Whether `password` matches the `stored` hash, and whether the hash should be
    replaced (made with other parameters). With no stored hash (no such user) a decoy
    is checked, so that an unknown name takes as long as a wrong password."""
    try:
        PASSWORDS.verify(stored or _decoy(), password)
    except (VerificationError, InvalidHashError):
        return False, False
    if stored is None:
        return False, False
    return True, PASSWORDS.check_needs_rehash(stored)
