"""Secrets at rest: capability tokens are random and stored only as their SHA-256.

(Passwords, when people have accounts, are hashed here too, with Argon2id.)
"""

from __future__ import annotations

import hashlib
import hmac

from nanoid import generate as nanoid

from hub.domain.access import Role

__all__ = ["hash_token", "new_token", "token_matches"]


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
