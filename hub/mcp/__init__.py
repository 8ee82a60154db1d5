"""Any MCP-capable agent joins a Hub session: `hub mcp` serves the session's tools and
resources over MCP's stdio transport, bridged to the hub with the Python SDK.

Modules: `bridge` (the tools over the SDK, free of MCP: the read cursor that returns each
message once), `server` (the MCP wiring, with the official `mcp` SDK).
"""
