"""Tools: typed functions the model may call, with risk levels and a registry."""

from errand.tools.base import Editable, Risk, SchemaTool, Tool, ToolContext, ToolResult, tool, utc_now
from errand.tools.provenance import AsAsked, FromResults, FromUser, said_from
from errand.tools.registry import ToolRegistry

__all__ = [
    "AsAsked",
    "Editable",
    "FromResults",
    "FromUser",
    "Risk",
    "SchemaTool",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "ToolResult",
    "said_from",
    "tool",
    "utc_now",
]
