"""The MCP server at `/mcp`: assistants search, describe and sync the user's operations.

Built with the official MCP Python SDK (`mcp`); named so as not to shadow it.
"""

from appsync.mcp_server.endpoint import MCP_PATH, McpEndpoint

__all__ = ["MCP_PATH", "McpEndpoint"]
