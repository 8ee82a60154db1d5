"""The vault's keyring: secrets sealed at rest with AES-256-GCM.

`HUB_SECRET_KEY` holds one or more keys, comma-separated, each `id:base64(32 bytes)`;
the first is the newest. Every value is sealed with the newest key and a random 96-bit
nonce, with its owner and name bound as associated data: a row copied to another owner
or name, or altered in any byte, does not open. A row records the id of the key that
sealed it, so older keys keep opening older rows until `hub secrets rotate` reseals them
with the newest.

The embedded default (no `HUB_DATABASE_URL`) keeps a generated keyring in the data
directory (`secret_key`, mode 0600); a hub on a database of its own must be given one.
Key material never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_FILE",
    "Keyring",
    "Sealed",
    "Unreadable",
    "key_file_keyring",
    "new_key_spec",
]

KEY_FILE = "secret_key"
"""The generated keyring's file name in the data directory (embedded default only)."""

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_KEY_BYTES = 32
_NONCE_BYTES = 12
_AAD_PREFIX = b"hub/secret/v1\x00"


class Unreadable(Exception):
    """A sealed value does not open: altered, moved to another owner or name, or sealed
    with a key the keyring no longer holds. Its message names no key material."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """A value as stored: the id of the key that sealed it, the nonce, the ciphertext
    (with its 16-byte GCM tag)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


def _associated_data(owner_id: str, name: str) -> bytes:
    return _AAD_PREFIX + owner_id.encode() + b"\x00" + name.encode()


class Keyring:
    """AES-256-GCM keys by id, the newest first."""

    __slots__ = ("_ciphers", "newest")

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self.newest: str = keys[0][0]
        """The id of the key new values are sealed with."""
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys}

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """The keyring written `id:base64key,id:base64key,...` (newest first). A
        `ValueError` says what is wrong without repeating the text."""
        keys: list[tuple[str, bytes]] = []
        for position, part in enumerate((p.strip() for p in spec.split(",")), 1):
            if not part:
                continue
            key_id, colon, encoded = part.partition(":")
            if not colon or not _KEY_ID.match(key_id):
                raise ValueError(
                    f"key {position} must be written id:base64, its id 1-32 letters, digits,"
                    " '_' or '-'"
                )
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"key {key_id!r} is not valid base64") from None
            if len(key) != _KEY_BYTES:
                raise ValueError(f"key {key_id!r} must be {_KEY_BYTES} bytes, not {len(key)}")
            if any(key_id == seen for seen, _ in keys):
                raise ValueError(f"key id {key_id!r} appears twice")
            keys.append((key_id, key))
        if not keys:
            raise ValueError("no key given: write id:base64(32 random bytes)")
        return cls(keys)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def encrypt(self, owner_id: str, name: str, plaintext: bytes) -> Sealed:
        """`plaintext` sealed with the newest key, bound to its owner and name."""
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = self._ciphers[self.newest].encrypt(
            nonce, plaintext, _associated_data(owner_id, name)
        )
        return Sealed(self.newest, nonce, ciphertext)

    def decrypt(self, owner_id: str, name: str, sealed: Sealed) -> bytes:
        """The plaintext of a value sealed for this owner and name; `Unreadable` if it
        was altered, moved, or sealed with a key this keyring does not hold."""
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise Unreadable(f"sealed with key {sealed.key_id!r}, which HUB_SECRET_KEY lacks")
        try:
            return cipher.decrypt(sealed.nonce, sealed.ciphertext, _associated_data(owner_id, name))
        except (InvalidTag, ValueError):
            raise Unreadable("the stored value fails authentication (altered or moved)") from None

    def __repr__(self) -> str:
        return f"Keyring(newest={self.newest!r}, ids={list(self._ciphers)!r})"


def new_key_spec(key_id: str = "k1") -> str:
    """A fresh key written as `HUB_SECRET_KEY` takes it: `id:base64(32 random bytes)`."""
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode()}"


def key_file_keyring(data_dir: str | Path, *, create: bool = True) -> tuple[str, Path, bool]:
    """The keyring kept in the data directory (the embedded default): its text, the
    file, and whether this call created it (mode 0600, created exclusively, so two
    processes starting at once agree on one key). Without `create`, a missing file is
    `FileNotFoundError`."""
    path = Path(data_dir) / KEY_FILE
    try:
        return path.read_text().strip(), path, False
    except FileNotFoundError:
        if not create:
            raise
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = new_key_spec()
    # Written whole under a private name, then linked into place: a process starting at
    # the same moment reads either no file or the complete one, never half of it.
    draft = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(spec + "\n")
        os.link(draft, path)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text().strip(), path, False
    finally:
        draft.unlink()
    return spec, path, True
