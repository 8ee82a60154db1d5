"""`hub template create|list|show|edit|history|archive`: session templates, with the user
key `hub login` kept; and the `--template` options of `hub session create`.

A template's content comes from flags (`--name`, `--note TITLE=FILE`, `--file PATH` …)
or whole from a JSON file (`--content FILE`, `-` for stdin) holding the fields of the
REST body. Local files are read before the hub's clock starts (`read_input`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

import msgspec

from hub.client import Conflict, HubAPI
from hub.commands import CommandError, need_user_key, out, when
from hub.domain import Template, TemplateVersion

__all__ = ["add_parsers", "add_session_options", "read_input", "run"]


def add_session_options(create: argparse.ArgumentParser) -> None:
    """`hub session create --template REF [--template-version N]`."""
    create.add_argument(
        "--template",
        metavar="TEMPLATE",
        help="start from this template (tpl_…, USERNAME/SLUG or space:SPACE/SLUG)",
    )
    create.add_argument(
        "--template-version", type=int, metavar="N", help="that template's version N"
    )


def add_parsers(commands: Any, with_url: Any, user_key_help: str) -> None:
    """The `hub template …` parsers, under `commands`."""
    group = commands.add_parser(
        "template",
        help="your session templates: seed notes, files, an opening message, versioned",
        description="Session templates: blueprints a session starts from (`hub session"
        " create --template REF`). A template is named by its id (tpl_…), USERNAME/SLUG or"
        " space:SPACE/SLUG.",
    )
    group.epilog = user_key_help
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    def sub(name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = with_url(
            actions.add_parser(name, help=text, description=text)
        )
        parser.epilog = user_key_help
        return parser

    def ref(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("ref", metavar="TEMPLATE", help="tpl_…, USERNAME/SLUG or space:…/SLUG")
        return parser

    create = sub("create", "create a template (version 1)")
    create.add_argument("slug", metavar="SLUG", help="unique among its owner's templates")
    create.add_argument("--space", metavar="SPACE", help="a space's template (you: owner/member)")
    create.add_argument("--public", action="store_true", help="anyone may read and use it")
    _content_options(create)

    listing = sub("list", "your templates (or a space's, or the public ones), newest first")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--space", metavar="SPACE", help="this space's templates")
    which.add_argument("--public", action="store_true", help="everyone's public templates")
    listing.add_argument("--archived", action="store_true", help="archived ones only")
    listing.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (20)")

    show = ref(sub("show", "show a template: its current version, or --version N"))
    show.add_argument("--version", type=int, metavar="N", help="this version instead")
    show.add_argument("--json", action="store_true", help="print it as JSON, contents and all")

    edit = ref(sub("edit", "write the template's next version: what you give replaces"))
    edit.add_argument(
        "--expected-version",
        type=int,
        metavar="N",
        help="the version your edit is based on (default: the current one)",
    )
    visibility = edit.add_mutually_exclusive_group()
    visibility.add_argument("--public", action="store_true", default=None, help="make it public")
    visibility.add_argument(
        "--not-public", dest="public", action="store_false", help="make it not public"
    )
    _content_options(edit)

    history = ref(sub("history", "the template's versions, newest first"))
    history.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (20)")

    archive = ref(sub("archive", "archive a template: read-only, no new sessions from it"))
    archive.add_argument("--undo", action="store_true", help="take it out of the archive")


def _content_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--content",
        metavar="FILE",
        help="the whole content as a JSON object (name, notes, files …; - for stdin)",
    )
    parser.add_argument("--name", help="its name (create: default the slug)")
    parser.add_argument("--description", help="what it is for")
    parser.add_argument("--mode", choices=["async", "realtime"], help="the sessions' mode")
    privacy = parser.add_mutually_exclusive_group()
    privacy.add_argument("--private-sessions", dest="is_private", action="store_true", default=None)
    privacy.add_argument("--listed-sessions", dest="is_private", action="store_false")
    parser.add_argument("--metadata", metavar="JSON", help="the sessions' metadata (an object)")
    parser.add_argument(
        "--note",
        action="append",
        metavar="TITLE=FILE",
        help="a seed note: its title and a Markdown file (repeat; replaces the notes)",
    )
    parser.add_argument(
        "--file",
        dest="seed_file",
        action="append",
        metavar="PATH[=LOCAL]",
        help="a seed file: its path in the session, read from LOCAL (default: PATH)"
        " (repeat; replaces the files)",
    )
    parser.add_argument("--opening-message", metavar="TEXT", help="the first, system message")


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise CommandError(f"cannot read {path}: {reason}") from None


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{where} is not JSON: {exc}") from None
    if not isinstance(found, dict):
        raise CommandError(f"{where} must be a JSON object")
    return found


def read_input(args: argparse.Namespace) -> None:
    """Read the content `create` and `edit` are given (files, stdin) into
    `args.changes`: the fields they set, nothing for what they leave."""
    if args.action not in ("create", "edit"):
        return
    changes: dict[str, Any] = {}
    if args.content is not None:
        changes = _json_object(_read(args.content), args.content)
    for field in ("name", "description", "mode", "is_private", "opening_message"):
        value = getattr(args, field)
        if value is not None:
            changes[field] = value
    if args.metadata is not None:
        changes["metadata"] = _json_object(args.metadata, "--metadata")
    if args.note:
        notes = []
        for given in args.note:
            title, sep, path = given.partition("=")
            if not sep or not title:
                raise CommandError(f"--note takes TITLE=FILE, not {given!r}")
            notes.append({"title": title, "content": _read(path)})
        changes["notes"] = notes
    if args.seed_file:
        files = []
        for given in args.seed_file:
            path, sep, local = given.partition("=")
            files.append({"path": path, "content": _read(local if sep else path)})
        changes["files"] = files
    args.changes = changes


async def run(args: argparse.Namespace) -> int:
    """Run `hub template ACTION`."""
    url, action = args.url, args.action
    key = need_user_key(url)
    async with HubAPI(url) as rest:
        if action == "create":
            fields = {"name": args.slug, **args.changes}
            if args.space:
                fields["space"] = args.space
            template = await rest.create_template(
                key, args.slug, fields.pop("name"), public=args.public, **fields
            )
            _describe(template)
        elif action == "list":
            scope: Literal["mine", "space", "public"] = (
                "public" if args.public else "space" if args.space else "mine"
            )
            page = await rest.templates(
                key, scope=scope, space=args.space, archived=args.archived, limit=args.limit
            )
            if not page.templates:
                out("no templates: `hub template create SLUG` makes one")
            for t in page.templates:
                flags = " public" if t.public else ""
                flags += " archived" if t.archived_at else ""
                out(
                    f"{t.ref}  {t.name!r}  version {t.version}  {t.note_count} notes,"
                    f" {t.file_count} files{flags}"
                )
        elif action == "show":
            shown: Template | TemplateVersion = (
                await rest.template(key, args.ref)
                if args.version is None
                else await rest.template_version(key, args.ref, args.version)
            )
            if args.json:
                # ASCII: valid JSON still once `out` escapes what a terminal would act on
                out(json.dumps(msgspec.to_builtins(shown), indent=2))
            else:
                _describe(shown)
        elif action == "edit":
            await _edit(rest, key, args)
        elif action == "history":
            versions = await rest.template_versions(key, args.ref, limit=args.limit)
            for v in versions.versions:
                seen = " public" if v.public else ""
                out(
                    f"version {v.version}  {when(v.created_at)}  by {v.author}  {v.name!r}"
                    f"  {v.note_count} notes, {v.file_count} files{seen}"
                )
        else:
            _describe(await rest.archive_template(key, args.ref, archived=not args.undo))
    return 0


async def _edit(rest: HubAPI, key: str, args: argparse.Namespace) -> None:
    """The current version with the given changes, as the next version, at the version
    read (or `--expected-version`)."""
    current = await rest.template(key, args.ref)
    if not args.changes and args.public is None:
        raise CommandError("nothing to change: give --name, --note, --file, --content …")
    content = msgspec.to_builtins(current)
    kept = {name: content[name] for name in _CONTENT}
    expected = args.expected_version or current.version
    try:
        edited = await rest.edit_template(
            key, current.id, expected, **{**kept, **args.changes}, public=args.public
        )
    except Conflict as exc:
        now = exc.template.version if exc.template is not None else "another"
        raise CommandError(
            f"conflict: {args.ref} is at version {now}, not {expected}: read it again"
            f" (`hub template show {args.ref}`) and retry with --expected-version {now}",
            exit_code=1,
        ) from None
    _describe(edited)


_CONTENT = (
    "name",
    "description",
    "mode",
    "is_private",
    "metadata",
    "notes",
    "files",
    "opening_message",
)


def _describe(t: Template | TemplateVersion) -> None:
    if isinstance(t, Template):
        out(f"template:    {t.ref}  ({t.id})")
    else:
        out(f"template:    {t.template_id}")
    out(f"name:        {t.name}")
    out(f"version:     {t.version}  (by {t.author})")
    out(f"public:      {'yes' if t.public else 'no'}")
    if isinstance(t, Template) and t.archived_at is not None:
        out(f"archived:    {when(t.archived_at)}")
    if t.description:
        out(f"description: {t.description}")
    out(f"mode:        {t.mode or '(the hub default)'}")
    private = "(the hub default)" if t.is_private is None else "yes" if t.is_private else "no"
    out(f"private:     {private}")
    if t.metadata:
        out(f"metadata:    {json.dumps(t.metadata, ensure_ascii=False)}")
    for note in t.notes:
        out(f"note:        {note.title}  ({len(note.content)} characters)")
    for seed in t.files:
        out(f"file:        {seed.path}  ({len(seed.content.encode())} bytes)")
    if t.opening_message:
        out(f"opening:     {t.opening_message}")
