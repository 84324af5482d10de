"""errand: an open agent that gets real-world errands done.

The few names a user imports live here; everything else may change.
"""

from errand.agent import Agent, Budget, Conversation, Decision
from errand.config import Settings
from errand.llm.base import ChatModel
from errand.llm.scripted import ScriptedModel, ScriptedTurn, call
from errand.llm.types import Message, ModelSettings, ToolCall, ToolSpec
from errand.tools import Tool, ToolContext, ToolRegistry, tool

__all__ = [
    "Agent",
    "Budget",
    "ChatModel",
    "Conversation",
    "Decision",
    "Message",
    "ModelSettings",
    "ScriptedModel",
    "ScriptedTurn",
    "Settings",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolRegistry",
    "ToolSpec",
    "call",
    "tool",
]

__version__ = "0.1.0"
