"""What the tests of the `hub` command share: a clean environment for each test, the
command run as a real subprocess, and accounts and agent keys made through the SDK."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from hub.client import HubAPI

__all__ = [
    "TIMEOUT",
    "account",
    "agent_with_key",
    "base_url",
    "field",
    "hub",
    "one_bus",
    "quiet_env",
    "unique",
]

TIMEOUT = 60

one_bus = pytest.mark.parametrize("config", ["memory-bus"], indirect=True)
"""One bus is enough: these commands are REST calls, whatever carries the live events."""


@pytest.fixture(autouse=True)
def quiet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test has its own config folder, and no key, token or hub from the environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("HUB_TOKEN", "HUB_URL", "HUB_USER_KEY", "HUB_AGENT_KEY"):
        monkeypatch.delenv(name, raising=False)


async def hub(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> tuple[int, str, str]:
    """Run `hub ARGS` (with `stdin` fed in, if given): exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        *args,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(TIMEOUT):
        out, err = await proc.communicate(None if stdin is None else stdin.encode())
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def base_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


def field(output: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(\S+)", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def unique(prefix: str) -> str:
    return prefix + secrets.token_hex(4)


async def account(url: str) -> tuple[str, str]:
    """A new account and a user key of it: (username, key)."""
    name = unique("cli")
    async with HubAPI(url) as rest:
        await rest.sign_up(name, "correct horse")
        return name, (await rest.log_in(name, "correct horse")).token


async def agent_with_key(
    url: str, user_key: str, slug: str, tmp_path: Path, **fields: object
) -> Path:
    """A profile of `user_key`'s and a file holding an agent key of it."""
    async with HubAPI(url) as rest:
        await rest.create_agent(user_key, slug=slug, name=slug, **fields)
        created = await rest.create_agent_key(user_key, slug, "test")
    path = tmp_path / f"{slug}.key"
    path.write_text(created.token + "\n")
    return path
