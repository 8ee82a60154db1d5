"""The vault's keyring, without I/O: AES-256-GCM with owner and name bound, keys by id,
and key material kept out of every repr and error."""

from __future__ import annotations

import base64

import pytest

from hub.vault import Keyring, Sealed, Unreadable, new_key_spec

KEY = base64.b64encode(bytes(range(32))).decode()


def test_a_sealed_value_opens_for_its_owner_and_name_only() -> None:
    """A value opens with the owner and name it was sealed for, and with no other."""
    ring = Keyring.parse(new_key_spec())
    sealed = ring.encrypt("u_1", "github", b"ghp_secret")
    assert ring.decrypt("u_1", "github", sealed) == b"ghp_secret"
    for owner, name in (("u_2", "github"), ("u_1", "gitlab"), ("u_1github", ""), ("u_", "1github")):
        with pytest.raises(Unreadable):
            ring.decrypt(owner, name, sealed)


def test_each_seal_uses_a_fresh_nonce() -> None:
    """Sealing one value twice gives two nonces and two ciphertexts."""
    ring = Keyring.parse(new_key_spec())
    one, two = ring.encrypt("u_1", "n", b"same"), ring.encrypt("u_1", "n", b"same")
    assert one.nonce != two.nonce and one.ciphertext != two.ciphertext
    assert len(one.nonce) == 12 and len(one.ciphertext) == len(b"same") + 16


def test_any_altered_byte_is_refused() -> None:
    """Flipping any bit of the nonce or the ciphertext makes the value unreadable."""
    ring = Keyring.parse(new_key_spec())
    sealed = ring.encrypt("u_1", "n", b"value")
    for field in ("nonce", "ciphertext"):
        data = bytearray(getattr(sealed, field))
        for i in range(len(data)):
            data[i] ^= 0x80
            altered = Sealed(
                sealed.key_id,
                bytes(data) if field == "nonce" else sealed.nonce,
                bytes(data) if field == "ciphertext" else sealed.ciphertext,
            )
            with pytest.raises(Unreadable):
                ring.decrypt("u_1", "n", altered)
            data[i] ^= 0x80


def test_new_values_use_the_first_key_and_older_keys_still_open() -> None:
    """The first key seals; a keyring holding an older key after it opens that key's
    values; one without it says which key is missing."""
    old = Keyring.parse(f"k1:{KEY}")
    sealed_old = old.encrypt("u", "n", b"v")
    both = Keyring.parse(f"{new_key_spec('k2')}, k1:{KEY}")
    assert both.newest == "k2" and both.key_ids == ("k2", "k1")
    assert both.encrypt("u", "n", b"v").key_id == "k2"
    assert both.decrypt("u", "n", sealed_old) == b"v"
    with pytest.raises(Unreadable, match="'k1'"):
        Keyring.parse(new_key_spec("k2")).decrypt("u", "n", sealed_old)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "no key given"),
        (KEY, "must be written id:base64"),
        (f"bad id:{KEY}", "must be written id:base64"),
        ("k1:not base64!", "not valid base64"),
        (f"k1:{base64.b64encode(bytes(16)).decode()}", "must be 32 bytes, not 16"),
        (f"k1:{KEY},k1:{KEY}", "appears twice"),
    ],
)
def test_a_malformed_keyring_is_refused_without_repeating_it(spec: str, says: str) -> None:
    """A malformed `HUB_SECRET_KEY` is refused with what is wrong, never its text."""
    with pytest.raises(ValueError, match=says) as caught:
        Keyring.parse(spec)
    assert KEY not in str(caught.value)


def test_the_repr_shows_key_ids_only() -> None:
    """A keyring's repr names its key ids, not their bytes."""
    ring = Keyring.parse(f"k1:{KEY}")
    assert repr(ring) == "Keyring(newest='k1', ids=['k1'])"
