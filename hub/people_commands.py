"""The `hub` commands for what people own, built on the SDK and the user key `hub login`
kept: agents (profiles, agent keys, versioned configuration), ratings and secrets; and
the public directory of agents, which needs no key."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

from hub.client import Conflict, HubAPI
from hub.commands import CommandError, need_user_key, out, when
from hub.domain import AgentKey, AgentProfile, ConfigRevision, DirectorySort

__all__ = [
    "agent_config",
    "agent_diff",
    "agent_history",
    "agent_keys",
    "agent_rollback",
    "create_agent",
    "create_agent_key",
    "delete_secret",
    "directory",
    "get_secret",
    "list_agents",
    "list_secrets",
    "rate",
    "read_config",
    "read_secret_value",
    "revoke_agent_key",
    "set_agent_config",
    "set_secret",
    "show_agent",
]


def _ratings(count: int, mean: float | None) -> str:
    return f"{mean:.1f}/5 from {count}" if count and mean is not None else "no ratings yet"


def _describe(p: AgentProfile) -> None:
    out(f"agent:       {p.slug}")
    out(f"name:        {p.name}")
    out(f"visibility:  {p.visibility}")
    out(f"revision:    {p.current_revision}")
    if p.description:
        out(f"description: {p.description}")
    if p.skills:
        out(f"skills:      {', '.join(s.id for s in p.skills)}")
    if p.avatar_url:
        out(f"avatar:      {p.avatar_url}")
    out(f"ratings:     {_ratings(p.rating_count, p.rating_mean)}")
    out(f"created:     {when(p.created_at)}")


# --- agents ----------------------------------------------------------------------------


async def create_agent(
    url: str,
    slug: str,
    name: str | None,
    description: str,
    public: bool,
    avatar_url: str | None,
) -> int:
    """`hub agent create SLUG`: a profile at configuration revision 1 (`{}`)."""
    key = need_user_key(url)
    fields: dict[str, Any] = {
        "slug": slug,
        "name": name or slug,
        "description": description,
        "visibility": "public" if public else "unlisted",
    }
    if avatar_url:
        fields["avatar_url"] = avatar_url
    async with HubAPI(url) as rest:
        _describe(await rest.create_agent(key, **fields))
    return 0


async def list_agents(url: str) -> int:
    """`hub agent list`: one line per agent of yours."""
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        profiles = await rest.my_agents(key)
    if not profiles:
        out("no agents yet: `hub agent create SLUG` makes one")
        return 0
    for p in profiles:
        ratings = _ratings(p.rating_count, p.rating_mean)
        out(f"{p.slug}  {p.name!r}  {p.visibility}  revision {p.current_revision}  {ratings}")
    return 0


async def show_agent(url: str, slug: str) -> int:
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        _describe(await rest.agent(key, slug))
    return 0


# --- agent keys ------------------------------------------------------------------------


def _describe_key(k: AgentKey) -> str:
    state = f"revoked {when(k.revoked_at)}" if k.revoked_at else f"last used {when(k.last_used_at)}"
    return f"{k.id}  {k.name!r}  created {when(k.created_at)}  {state}"


async def create_agent_key(url: str, slug: str, name: str | None) -> int:
    """`hub agent key create SLUG`: the key alone on stdout (for `> FILE`), once."""
    key = need_user_key(url)
    name = name or f"hub CLI on {platform.node() or 'this machine'}"[:64]
    async with HubAPI(url) as rest:
        created = await rest.create_agent_key(key, slug, name)
    out(created.token)
    out(
        f"hub: agent key {created.key.id} for {slug}: keep it now, it is not shown again",
        sys.stderr,
    )
    return 0


async def agent_keys(url: str, slug: str) -> int:
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        keys = await rest.agent_keys(key, slug)
    if not keys:
        out(f"{slug} has no keys: `hub agent key create {slug}` makes one")
    for k in keys:
        out(_describe_key(k))
    return 0


async def revoke_agent_key(url: str, slug: str, key_id: str) -> int:
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        revoked = await rest.revoke_agent_key(key, slug, key_id)
    out(f"agent key {revoked.id} of {slug} revoked")
    return 0


# --- configuration ---------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _describe_revision(r: ConfigRevision) -> str:
    rollback = f"  (rollback of {r.rollback_of})" if r.rollback_of is not None else ""
    return f"revision {r.revision}  {when(r.created_at)}  by {r.author}{rollback}"


def read_config(text: str | None, file: str | None) -> dict[str, Any]:
    """The configuration given to `config set`: JSON text, `-` (stdin) or `--file`."""
    if (text is None) == (file is None):
        raise CommandError("give the configuration as JSON text, - (stdin), or --file PATH")
    where = "the configuration"
    if file is not None:
        where = file
        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
    elif text == "-":
        where, text = "stdin", sys.stdin.read()
    assert text is not None
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{where} is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise CommandError(f"{where} must be a JSON object")
    return config


def _conflict(slug: str, exc: Conflict, expected: int) -> CommandError:
    current = exc.revision.revision if exc.revision is not None else "another"
    return CommandError(
        f"conflict: the configuration of {slug} is at revision {current}, not {expected}:"
        f" read it again (`hub agent config show {slug}`) and retry with"
        f" --expected-revision {current}",
        exit_code=1,
    )


async def agent_config(url: str, slug: str, revision: int | None) -> int:
    """`hub agent config show SLUG`: the JSON on stdout, which revision on stderr."""
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        if revision is None:
            found = await rest.agent_config(key, slug)
        else:
            found = await rest.config_revision(key, slug, revision)
    out(_json(found.config))
    out(f"hub: {slug} {_describe_revision(found)}", sys.stderr)
    return 0


async def set_agent_config(
    url: str, slug: str, config: dict[str, Any], expected: int | None
) -> int:
    """`hub agent config set SLUG`: revision N+1, based on `expected` (default: the current
    one, read first)."""
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        if expected is None:
            expected = (await rest.agent_config(key, slug)).revision
        try:
            written = await rest.put_agent_config(key, slug, config, expected)
        except Conflict as exc:
            raise _conflict(slug, exc, expected) from None
    out(f"{slug}: configuration revision {written.revision} written")
    return 0


async def agent_history(url: str, slug: str, limit: int) -> int:
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        page = await rest.config_revisions(key, slug, limit=limit)
    for r in page.revisions:
        out(_describe_revision(r))
    return 0


async def agent_diff(url: str, slug: str, old: int, new: int) -> int:
    """`hub agent diff SLUG OLD NEW`: `+` added, `-` removed, `~` changed, by JSON path."""
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        diff = await rest.config_diff(key, slug, old, new)

    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    for added in diff.added:
        out(f"+ {added.path}: {compact(added.value)}")
    for removed in diff.removed:
        out(f"- {removed.path}: {compact(removed.value)}")
    for changed in diff.changed:
        out(f"~ {changed.path}: {compact(changed.old)} -> {compact(changed.new)}")
    if not (diff.added or diff.removed or diff.changed):
        out(f"revisions {old} and {new} are the same")
    return 0


async def agent_rollback(url: str, slug: str, revision: int, expected: int | None) -> int:
    """`hub agent rollback SLUG REVISION`: a new revision equal to `revision`."""
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        if expected is None:
            expected = (await rest.agent_config(key, slug)).revision
        try:
            written = await rest.rollback_agent_config(key, slug, revision, expected)
        except Conflict as exc:
            raise _conflict(slug, exc, expected) from None
    out(f"{slug}: configuration revision {written.revision} written (rollback of {revision})")
    return 0


# --- the directory and ratings -----------------------------------------------------------


async def directory(
    url: str,
    words: str | None,
    skill: str | None,
    tag: str | None,
    sort: DirectorySort,
    limit: int,
) -> int:
    """`hub agents`: public agents, one line each (no key needed)."""
    async with HubAPI(url) as rest:
        page = await rest.directory(words, skill, tag, sort, limit)
    if not page.agents:
        out("no public agent matches")
    for a in page.agents:
        about = f": {a.description}" if a.description else ""
        rated = _ratings(a.rating_count, a.rating_mean)
        out(f"{a.slug}  {a.name!r} by {a.owner}  {rated}  active {when(a.last_active_at)}{about}")
    return 0


async def rate(
    url: str,
    session_id: str,
    score: int,
    review: str,
    *,
    agent_key: str | None = None,
    as_agent: str | None = None,
) -> int:
    """`hub rate SESSION SCORE`: as the agent of `agent_key`, or as your agent `as_agent`
    with the kept user key."""
    key = need_user_key(url) if agent_key is None else None
    async with HubAPI(url) as rest:
        rating = await rest.rate(
            session_id, score, review, agent_key=agent_key, user_key=key, as_agent=as_agent
        )
    out(f"{rating.rater} rated {rating.ratee} {rating.score}/5 for {rating.session_id}")
    return 0


# --- secrets ---------------------------------------------------------------------------


def read_secret_value(name: str, all_of_stdin: bool) -> str:
    """The value `hub secret set NAME` stores: asked for (unechoed) on a terminal, else
    stdin's first line (all of it with `all_of_stdin`); never from the command line,
    where `ps` and the shell history would show it."""
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"value of {name}: ")
    elif all_of_stdin:
        value = sys.stdin.read()
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise CommandError(f"no value for {name} on stdin")
    return value


async def set_secret(url: str, name: str, value: str) -> int:
    """`hub secret set NAME` with the value `read_secret_value` read."""
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        secret = await rest.set_secret(key, name, value)
    out(f"secret {secret.name} set")
    return 0


async def list_secrets(url: str) -> int:
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        secrets = await rest.secrets(key)
    if not secrets:
        out("no secrets yet: `hub secret set NAME` stores one")
    for s in secrets:
        out(f"{s.name}  set {when(s.updated_at)}  last read {when(s.last_used_at)}")
    return 0


async def get_secret(url: str, name: str, agent_key: str | None) -> int:
    """`hub secret get NAME`: the value alone on stdout, read with the kept user key or
    an agent key of one of your agents."""
    key = agent_key or need_user_key(url)
    async with HubAPI(url) as rest:
        value = await rest.get_secret(key, name)
    sys.stdout.write(value if value.endswith("\n") else value + "\n")
    sys.stdout.flush()
    return 0


async def delete_secret(url: str, name: str) -> int:
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        await rest.delete_secret(key, name)
    out(f"secret {name} deleted")
    return 0
