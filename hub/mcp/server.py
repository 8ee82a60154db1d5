"""`hub mcp`: the bridge's tools and resources served over MCP's stdio transport, with
the official SDK's low-level `Server`.

The low-level server rather than `MCPServer`: the tools' argument types are msgspec
Structs (their JSON schemas come from msgspec, and decoding them is the validation, as
everywhere in the hub), and resource subscriptions need the `resources/subscribe`
handler, which `MCPServer` does not serve. Both eras of the protocol get
`notifications/resources/updated`: clients that subscribed with `resources/subscribe`
(protocol versions up to 2025-11-25) on their session, clients of `subscriptions/listen`
(2026-07-28) through the SDK's listen handler and its in-process bus.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

import mcp_types as types
import msgspec
from mcp.server import NotificationOptions, Server, ServerRequestContext
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ResourcesListChanged,
    ResourceUpdated,
)
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

import hub
from hub.client import HubClientError, connect
from hub.mcp.bridge import (
    FILE_PREFIX,
    NOTE_PREFIX,
    TOOLS,
    TRANSCRIPT_URI,
    Bridge,
    Tool,
    file_uri,
    note_uri,
)

__all__ = ["McpBridgeServer", "Notices", "instructions", "run"]

log = logging.getLogger("hub.mcp")

RESOURCE_NOT_FOUND = -32002
"""The JSON-RPC error code MCP gives an unknown resource."""

_BY_NAME: dict[str, Tool] = {tool.name: tool for tool in TOOLS}


def _schema(args: type[msgspec.Struct]) -> dict[str, Any]:
    """A tool's input schema: the Struct's JSON schema, inlined (an object, as MCP wants)."""
    _, components = msgspec.json.schema_components([args])
    inline: dict[str, Any] = dict(components[args.__name__])
    inline.pop("title", None)
    return inline


def _text(result: msgspec.Struct) -> types.CallToolResult:
    data = msgspec.json.encode(result)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=msgspec.json.format(data, indent=2).decode())],
        structured_content=msgspec.json.decode(data),
    )


def _error(code: str, message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{code}: {message}")], is_error=True
    )


class Notices:
    """What one bridge's clients are told when its resources change: clients of protocol
    versions up to 2025-11-25 through `resources/subscribe` on their session, clients of
    2026-07-28 through `subscriptions/listen` and a bus of this bridge's own (so no client
    hears of another session's notes or files)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self._clients: dict[object, _Client] = {}
        """Per MCP session (its connection) of this bridge, up to 2025-11-25: where to
        notify it and what it subscribed to."""
        self._bus = InMemorySubscriptionBus()
        self.listen = ListenHandler(self._bus)
        bridge.on_change = self.changed

    def client(self, session: ServerSession) -> _Client:
        """The MCP session `session` belongs to (each keeps its own subscriptions)."""
        key = getattr(session, "_connection", session)
        found = self._clients.get(key)
        if found is None:
            found = self._clients[key] = _Client(session)
        else:
            found.session = session
        return found

    async def changed(self, uri: str, new: bool) -> None:
        """Tell the clients that `uri` changed (and that the list did, if it is new)."""
        await self._bus.publish(ResourceUpdated(uri=uri))
        if new:
            await self._bus.publish(ResourcesListChanged())
        for key, client in list(self._clients.items()):
            try:
                if uri in client.subscribed:
                    await client.session.send_resource_updated(uri)
                if new:
                    await client.session.send_resource_list_changed()
            except Exception:  # that MCP session has ended: forget it
                self._clients.pop(key, None)


class _Client:
    __slots__ = ("session", "subscribed")

    def __init__(self, session: ServerSession) -> None:
        self.session = session
        self.subscribed: set[str] = set()


Resolve = Callable[[], Notices]
"""The bridge (with its notices) of the request being served."""


class McpBridgeServer:
    """The MCP side of the bridges: tools, resources and their change notifications,
    each request served by the bridge `resolve` gives (one for stdio; over HTTP, the
    bridge of the request's token)."""

    def __init__(self, resolve: Resolve, *, instructions: str) -> None:
        self.resolve = resolve
        self.server: Server[Any] = Server(
            "hub",
            version=hub.__version__,
            title="Hub session",
            instructions=instructions,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
            on_subscribe_resource=self._subscribe,
            on_unsubscribe_resource=self._unsubscribe,
            on_subscriptions_listen=self._listen,
        )

    async def serve_stdio(self) -> None:
        async with stdio_server() as (read, write):
            await self.server.run(read, write, self.options())

    def options(self) -> InitializationOptions:
        return self.server.create_initialization_options(
            NotificationOptions(resources_changed=True)
        )

    async def _listen(
        self, ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        return await self.resolve().listen(ctx, params)

    # -- tools -----------------------------------------------------------------------------

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=tool.name,
                    description=tool.description,
                    input_schema=_schema(tool.args),
                    annotations=types.ToolAnnotations(
                        read_only_hint=tool.read_only,
                        destructive_hint=False,
                        open_world_hint=False,
                    ),
                )
                for tool in TOOLS
            ]
        )

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        self._client(ctx)
        tool = _BY_NAME.get(params.name)
        if tool is None:
            return _error("bad_request", f"no tool is named {params.name!r}")
        try:
            args = msgspec.convert(params.arguments or {}, tool.args)
        except msgspec.ValidationError as exc:
            return _error("bad_request", str(exc))
        try:
            return _text(await self.resolve().bridge.call(tool.name, args))
        except HubClientError as exc:
            return _error(exc.code, exc.message)

    # -- resources -------------------------------------------------------------------------

    async def _list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        self._client(ctx)
        try:
            notes, files = await self.resolve().bridge.resources()
        except HubClientError as exc:
            raise MCPError(types.INTERNAL_ERROR, f"{exc.code}: {exc.message}") from None
        resources = [
            types.Resource(
                name="transcript",
                title="Transcript",
                uri=TRANSCRIPT_URI,
                description="The session's latest messages, one line each.",
                mime_type="text/plain",
            )
        ]
        resources += [
            types.Resource(
                name=f"note-{n.id}",
                title=n.title,
                uri=note_uri(n.id),
                description=f"Note {n.id}, version {n.version}, by {n.last_editor}",
                mime_type="text/markdown",
                size=len(n.content.encode()),
            )
            for n in notes
        ]
        resources += [
            types.Resource(
                name=f.path,
                uri=file_uri(f.path),
                description=f"File version {f.version}, by {f.last_editor}",
                mime_type="text/plain",
                size=f.size,
            )
            for f in files
        ]
        return types.ListResourcesResult(resources=resources)

    async def _list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    name="note",
                    uri_template=NOTE_PREFIX + "{note_id}",
                    description="A note's markdown, by its id.",
                    mime_type="text/markdown",
                ),
                types.ResourceTemplate(
                    name="file",
                    uri_template=FILE_PREFIX + "{+path}",
                    description="A file's text, by its path.",
                    mime_type="text/plain",
                ),
            ]
        )

    async def _read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        bridge = self.resolve().bridge
        try:
            if uri == TRANSCRIPT_URI:
                text, mime = await bridge.transcript(), "text/plain"
            elif uri.startswith(NOTE_PREFIX) and uri[len(NOTE_PREFIX) :].isdigit():
                text = await bridge.note_text(int(uri[len(NOTE_PREFIX) :]))
                mime = "text/markdown"
            elif uri.startswith(FILE_PREFIX) and len(uri) > len(FILE_PREFIX):
                path = urllib.parse.unquote(uri[len(FILE_PREFIX) :])
                text, mime = await bridge.file_text(path), "text/plain"
            else:
                raise MCPError(RESOURCE_NOT_FOUND, f"no resource {uri}")
        except HubClientError as exc:
            code = RESOURCE_NOT_FOUND if exc.code == "not_found" else types.INTERNAL_ERROR
            raise MCPError(code, f"{exc.code}: {exc.message}") from None
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)]
        )

    def _client(self, ctx: ServerRequestContext[Any]) -> None:
        """Keep the client's session to notify it later, if it takes notifications there
        (before 2026-07-28; later ones listen with `subscriptions/listen`)."""
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self.resolve().client(ctx.session)

    async def _subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        self.resolve().client(ctx.session).subscribed.add(str(params.uri))
        return types.EmptyResult()

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self.resolve().client(ctx.session).subscribed.discard(str(params.uri))
        return types.EmptyResult()


def instructions(bridge: Bridge | None) -> str:
    """What the model is told first: who it is in which session (when one bridge is all
    the server serves), and how to use the tools."""
    said = ""
    if bridge is not None and bridge.session.hello is not None:
        you, session = bridge.session.you, bridge.session.hello.session
        said = (
            f"You are {you.participant_id} ({you.role.replace('_', ' ')}) in the Hub"
            f' session "{session.name}" ({session.id}), '
        )
    return (
        (said or "You are in a Hub session, ")
        + "working with another agent while humans watch. Call session_state first, then"
        " wait_for_messages to hear from the others (it returns each message once), and"
        " send_message to answer. Notes and files are shared: edit a note with the version"
        " you read, and merge on a conflict."
    )


async def run(url: str, token: str, *, since: int, patience: float) -> int:
    """Connect to the hub (a bad token or an unreachable hub raises here, before any MCP
    is spoken), then serve MCP on stdin/stdout until the client closes them."""
    async with connect(
        url, token, since=None, connect_timeout=patience, reconnect_timeout=None
    ) as session:
        logging.getLogger("hub.client").setLevel(logging.WARNING)  # say when it reconnects
        bridge = Bridge(session, cursor=since)
        notices = Notices(bridge)
        bridge.start()
        try:
            await McpBridgeServer(lambda: notices, instructions=instructions(bridge)).serve_stdio()
        finally:
            await bridge.close()
    return 0
