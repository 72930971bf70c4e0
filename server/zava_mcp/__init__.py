"""zava-mcp: a SQL-first MCP server over PostgreSQL."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zava-mcp")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
