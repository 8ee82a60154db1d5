"""Session templates through the SDK (`HubAPI`'s `TemplatesAPI`) and the `hub template`
commands, run as real subprocesses against a real hub."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from hub.client import Conflict, HubAPI, HubClientError
from tests.cli_helpers import (
    account,
    agent_with_key,
    base_url,
    field,
    hub,
    one_bus,
    quiet_env,  # noqa: F401 (autouse: a clean environment for each test)
    unique,
)

pytestmark = one_bus


@pytest.mark.timeout(60)
async def test_the_sdk_writes_versions_and_starts_sessions_from_them(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """The SDK creates a template, edits it at a version (a stale one raises `Conflict`
    carrying the current template), lists and reads its versions, and creates a session
    from it by reference; what the hub would refuse is refused before sending."""
    url = base_url(hub_server)
    name, key = await account(url)
    slug = unique("kit-")
    key_file = await agent_with_key(url, key, unique("bot-"), tmp_path)
    agent_key = key_file.read_text().strip()
    async with HubAPI(url) as rest:
        made = await rest.create_template(
            key,
            slug,
            "Kit",
            notes=[{"title": "Plan", "content": "# plan"}],
            files=[{"path": "a.txt", "content": "a"}],
            opening_message="hello",
        )
        assert (made.ref, made.version) == (f"{name}/{slug}", 1)
        edited = await rest.edit_template(key, made.ref, 1, name="Kit 2", public=True)
        assert (edited.version, edited.public, edited.notes) == (2, True, [])
        with pytest.raises(Conflict) as stale:
            await rest.edit_template(key, made.id, 1, name="late")
        assert stale.value.template is not None and stale.value.template.version == 2
        with pytest.raises(HubClientError) as bad:
            await rest.create_template(key, slug, "x", files=[{"path": "../up"}])
        assert bad.value.code == "bad_request"

        page = await rest.template_versions(key, made.ref)
        assert [v.version for v in page.versions] == [2, 1]
        first = await rest.template_version(key, made.ref, 1)
        assert (first.name, first.files[0].content) == ("Kit", "a")
        listed = await rest.templates(key)
        assert [t.id for t in listed.templates] == [made.id]

        created = await rest.create_session(
            agent_key=agent_key, template=made.ref, template_version=1
        )
        assert (created.session.template_id, created.session.template_version) == (made.id, 1)
        notes = await rest.notes(created.session.id, created.agent_token)
        assert [(n.title, n.content) for n in notes] == [("Plan", "# plan")]

        archived = await rest.archive_template(key, made.ref)
        assert archived.archived_at is not None
        with pytest.raises(HubClientError) as refused:
            await rest.create_session(agent_key=agent_key, template=made.ref)
        assert refused.value.code == "forbidden"


@pytest.mark.timeout(120)
async def test_templates_from_the_terminal(hub_server: TestServer, tmp_path: Path) -> None:
    """`hub template create` from flags and local files, `list`, `show`, `edit` (a new
    version keeping what it is not given; a stale --expected-version is one conflict
    line), `history`, `session create --template`, and `archive`."""
    url = base_url(hub_server)
    name, key = await account(url)
    env = {"HUB_USER_KEY": key}
    key_file = await agent_with_key(url, key, unique("bot-"), tmp_path)
    plan = tmp_path / "plan.md"
    plan.write_text("# Plan\n- one\n")
    (tmp_path / "main.py").write_text("print(1)\n")
    slug = unique("kit-")
    code, out, err = await hub(
        "template",
        "create",
        slug,
        "--name",
        "Review kit",
        "--mode",
        "realtime",
        "--note",
        f"Plan={plan}",
        "--file",
        f"src/main.py={tmp_path / 'main.py'}",
        "--opening-message",
        "Welcome",
        "--metadata",
        '{"kind": "review"}',
        "--url",
        url,
        env=env,
    )
    assert code == 0, err
    ref = f"{name}/{slug}"
    assert (field(out, "template"), field(out, "version"), field(out, "mode")) == (
        ref,
        "1",
        "realtime",
    )
    assert "note:        Plan  (13 characters)" in out and "file:        src/main.py" in out

    code, out, err = await hub("template", "list", "--url", url, env=env)
    assert code == 0 and out.startswith(f"{ref}  'Review kit'  version 1  1 notes, 1 files"), err

    code, out, err = await hub(
        "template", "edit", ref, "--name", "Review kit 2", "--public", "--url", url, env=env
    )
    assert code == 0, err
    assert (field(out, "version"), field(out, "public"), field(out, "mode")) == (
        "2",
        "yes",
        "realtime",
    )
    assert "note:        Plan" in out and "opening:     Welcome" in out  # kept
    code, out, err = await hub(
        "template", "edit", ref, "--name", "late", "--expected-version", "1", "--url", url, env=env
    )
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"hub: conflict: {ref} is at version 2, not 1: read it again (`hub template show"
        f" {ref}`) and retry with --expected-version 2"
    ]
    code, out, err = await hub("template", "history", ref, "--url", url, env=env)
    assert code == 0, err
    assert [line.split("  ")[0] for line in out.splitlines()] == ["version 2", "version 1"]
    code, out, err = await hub(
        "template", "show", ref, "--version", "1", "--json", "--url", url, env=env
    )
    assert code == 0 and '"name": "Review kit"' in out, err

    code, out, err = await hub(
        "session",
        "create",
        "--template",
        ref,
        "--agent-key-file",
        str(key_file),
        "--url",
        url,
    )
    assert code == 0, err
    assert re.search(r"^template:\s+tpl_\S+ version 2$", out, re.M), out

    code, out, err = await hub("template", "archive", ref, "--url", url, env=env)
    assert code == 0 and field(out, "archived"), err
    code, out, err = await hub(
        "session", "create", "--template", ref, "--agent-key-file", str(key_file), "--url", url
    )
    assert code == 1 and "forbidden" in err, (out, err)
    code, out, err = await hub("template", "show", "nobody-x/none", "--url", url, env=env)
    assert code == 1 and err.startswith("hub: not_found"), err
