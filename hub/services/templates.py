"""Session templates: a person's or a space's blueprints for sessions, versioned (each
edit a new version at the version the editor read), readable by who may read them (see
`hub.domain.templates`), and copied into a new session in the session's own transaction.

To someone who may not read a template it does not exist (`not_found`); one who may read
but not do the thing asked gets `forbidden`, as does any change to or use of an archived
template.
"""

from __future__ import annotations

from typing import Any

from hub import api
from hub.domain import (
    AgentPrincipal,
    Principal,
    Template,
    TemplateVersion,
    UserPrincipal,
    blueprint_of,
    new_template_id,
    parse_template_ref,
    template_allows,
    validate_path,
)
from hub.domain.cursors import decode_time_cursor, encode_time_cursor
from hub.domain.spaces import SpaceRole
from hub.domain.templates import TemplateAction
from hub.errors import HubError
from hub.store import Connection, Store, changes, message_batch
from hub.store import files as file_store
from hub.store import notes as note_store
from hub.store import spaces as space_store
from hub.store import templates as template_store
from hub.store import users as user_store
from hub.store.messages import NewMessage
from hub.store.templates import TemplateRow

__all__ = ["OPENING_AUTHOR", "Templates", "seed_session", "template_for_new_session"]

OPENING_AUTHOR = "hub"
"""The author id of a template's opening message (role `system`)."""


def _no_such(ref: str) -> HubError:
    return HubError("not_found", f"no template {ref[:80]!r}")


async def _find(
    conn: Connection, ref: str, user_id: str | None, *, lock: Any = None
) -> tuple[TemplateRow, SpaceRole | None]:
    """The template `ref` names, and `user_id`'s role in the space owning it (None: not
    a member, or a person's template); `not_found` if there is none."""
    parsed = parse_template_ref(ref)
    if parsed.id is not None:
        found = await template_store.find_template(conn, template_id=parsed.id, lock=lock)
    else:
        owner_id = None
        if parsed.username is not None:
            owner_id = await user_store.user_id_of(conn, parsed.username)
            kind = "user"
        else:
            assert parsed.space is not None
            space = await space_store.find_space(conn, parsed.space, user_id or "")
            owner_id = None if space is None else space.id
            kind = "space"
        found = (
            None
            if owner_id is None
            else await template_store.find_template(
                conn,
                owner=(kind, owner_id),  # type: ignore[arg-type]
                slug=parsed.slug,
                lock=lock,
            )
        )
    if found is None:
        raise _no_such(ref)
    role = None
    if found.space_id is not None and user_id is not None:
        role = await space_store.member_role(conn, found.space_id, user_id)
    return found, role


def _check(
    found: TemplateRow,
    role: SpaceRole | None,
    user_id: str | None,
    action: TemplateAction,
    ref: str,
) -> None:
    """`not_found` to someone who may not read the template, `forbidden` to one who
    may read it but not do `action`, or when `action` changes or uses an archived one."""
    facts: dict[str, Any] = {
        "public": found.public,
        "owner_is_caller": user_id is not None and found.user_id == user_id,
        "space_role": role,
    }
    if not template_allows("read", **facts):
        raise _no_such(ref)
    if not template_allows(action, **facts):
        raise HubError("forbidden", f"you may read the template {ref[:80]!r} but not {action} it")
    if action != "read" and found.archived:
        raise HubError("forbidden", f"the template {found.slug!r} is archived")


async def template_for_new_session(
    conn: Connection, ref: str, version: int | None, agent: AgentPrincipal | None
) -> TemplateVersion:
    """The template version a new session is created from (`version`, else the current
    one): a person's own template for their agents, a space's for agents whose owner is
    an owner or member of it, a public one for anyone; not archived. Holds the
    template's row (FOR SHARE) until the caller's transaction ends, so archiving waits."""
    owner_id = None if agent is None else agent.owner_id
    found, role = await _find(conn, ref, owner_id, lock="SHARE")
    _check(found, role, owner_id, "use", ref)
    return await template_store.get_version(conn, found.id, version or found.current_version)


async def seed_session(conn: Connection, creator: Principal, template: TemplateVersion) -> None:
    """Write the template's seed notes and files and its opening message into the new
    session `creator` made, inside the session's transaction, each with its version and
    activity rows as any change has (the notes and files as `creator`'s, before the
    message, so they belong to the state after message 0)."""
    source = {"template_id": template.template_id, "template_version": template.version}
    for seed in template.notes:
        note = await note_store.create_note(
            conn, creator.session_id, seed.title, seed.content, creator.participant_id
        )
        detail = {"note_id": note.id, "version": note.version, **source}
        await changes.record_as(conn, creator, "note.created", detail)
    for seed_file in template.files:
        path = validate_path(seed_file.path)
        entry = await file_store.write_file(
            conn,
            creator.session_id,
            path,
            seed_file.content,
            editor=creator.participant_id,
            expected_hash="",
        )
        detail = {"path": path, "content_hash": entry.content_hash, **source}
        await changes.record_as(conn, creator, "file.written", detail)
    if template.opening_message is not None:
        outcome = await message_batch.insert_batch(
            conn,
            [
                NewMessage(
                    session_id=creator.session_id,
                    author_id=OPENING_AUTHOR,
                    author_role="system",
                    content=template.opening_message,
                    msg_type="system",
                    metadata=source,
                )
            ],
        )
        (result,) = outcome.results
        if isinstance(result, HubError):
            raise result


class Templates:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, who: UserPrincipal, req: api.NewTemplate) -> Template:
        """A new template at version 1, the caller's or (`req.space`) a space's whose
        owner or member they are (not archived); `conflict` if its owner has the slug."""
        async with self._store.transaction() as conn:
            user_id: str | None = who.user_id
            space_id: str | None = None
            if req.space is not None:
                space = await space_store.find_space(conn, req.space, who.user_id, lock="SHARE")
                if space is None or space.role is None:
                    raise HubError("not_found", f"no space {req.space[:64]!r}")
                if not template_allows(
                    "edit", public=False, owner_is_caller=False, space_role=space.role
                ):
                    raise HubError("forbidden", f"a space's {space.role} may not write templates")
                if space.archived:
                    raise HubError("forbidden", f"the space {space.slug!r} is archived")
                user_id, space_id = None, space.id
            template_id = new_template_id()
            await template_store.create_template(
                conn,
                template_id=template_id,
                user_id=user_id,
                space_id=space_id,
                slug=req.slug,
                public=req.public,
                content=blueprint_of(req),
                author_id=who.user_id,
            )
            await changes.audit(
                conn,
                who,
                who.user_id,
                "template.created",
                {"template_id": template_id, "space_id": space_id},
            )
            return await template_store.template_view(conn, template_id)

    async def list(self, who: UserPrincipal, q: api.TemplateQuery) -> api.TemplatePage:
        """A page of templates, newest first: one's own, a space's (any member), or the
        public ones (never archived)."""
        async with self._store.connection() as conn:
            owner_id: str | None = None
            if q.scope == "mine":
                owner_id = who.user_id
            elif q.scope == "space":
                if q.space is None:
                    raise HubError("bad_request", "scope=space needs space=SLUG")
                space = await space_store.find_space(conn, q.space, who.user_id)
                if space is None or space.role is None:
                    raise HubError("not_found", f"no space {q.space[:64]!r}")
                owner_id = space.id
            elif q.space is not None:
                raise HubError("bad_request", "space= goes with scope=space")
            page = await template_store.template_page(
                conn,
                q.scope,
                owner_id,
                q.archived and q.scope != "public",
                q.limit,
                decode_time_cursor(q.cursor),
            )
        last = page[-1] if len(page) == q.limit else None
        return api.TemplatePage(
            templates=page,
            next=encode_time_cursor(last.created_at, last.id) if last else None,
        )

    async def get(self, who: UserPrincipal, ref: str) -> Template:
        async with self._store.connection() as conn:
            found, role = await _find(conn, ref, who.user_id)
            _check(found, role, who.user_id, "read", ref)
            return await template_store.template_view(conn, found.id)

    async def revise(self, who: UserPrincipal, ref: str, req: api.TemplateEdit) -> Template:
        """Write version N+1 if the template is still at `expected_version` N (otherwise
        `conflict` carrying the current template)."""
        async with self._store.transaction() as conn:
            found, role = await _find(conn, ref, who.user_id, lock="UPDATE")
            _check(found, role, who.user_id, "edit", ref)
            await template_store.revise(
                conn,
                found.id,
                expected_version=req.expected_version,
                public=req.public,
                content=blueprint_of(req),
                author_id=who.user_id,
            )
            await changes.audit(
                conn,
                who,
                who.user_id,
                "template.revised",
                {"template_id": found.id, "version": req.expected_version + 1},
            )
            return await template_store.template_view(conn, found.id)

    async def versions(
        self, who: UserPrincipal, ref: str, q: api.VersionQuery
    ) -> api.TemplateVersionPage:
        """Versions newest first, a page at a time (keyset: `before` a version)."""
        async with self._store.connection() as conn:
            found, role = await _find(conn, ref, who.user_id)
            _check(found, role, who.user_id, "read", ref)
            versions = await template_store.list_versions(
                conn, found.id, before=q.before, limit=q.limit
            )
        last = versions[-1].version if versions else 1
        more = len(versions) == q.limit and last > 1
        return api.TemplateVersionPage(versions=versions, next_before=last if more else None)

    async def version(self, who: UserPrincipal, ref: str, version: int) -> TemplateVersion:
        async with self._store.connection() as conn:
            found, role = await _find(conn, ref, who.user_id)
            _check(found, role, who.user_id, "read", ref)
            return await template_store.get_version(conn, found.id, version)

    async def set_archived(self, who: UserPrincipal, ref: str, archived: bool) -> Template:
        """Archive (read-only; no new sessions from it) or unarchive a template (whoever
        may edit it). Waits for sessions being created from it."""
        async with self._store.transaction() as conn:
            found, role = await _find(conn, ref, who.user_id, lock="UPDATE")
            _check(found, role, who.user_id, "read", ref)
            if not template_allows(
                "edit",
                public=found.public,
                owner_is_caller=found.user_id == who.user_id,
                space_role=role,
            ):
                raise HubError("forbidden", f"you may read the template {ref[:80]!r} only")
            if archived != found.archived:
                await template_store.set_archived(conn, found.id, archived)
                await changes.audit(
                    conn,
                    who,
                    who.user_id,
                    "template.archived" if archived else "template.unarchived",
                    {"template_id": found.id},
                )
            return await template_store.template_view(conn, found.id)
