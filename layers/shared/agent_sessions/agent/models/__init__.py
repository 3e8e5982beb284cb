"""Model adapters speak one small event protocol; `stream_text` turns it into UI-message chunks."""

from agent_sessions.agent.models.base import (
    Finish,
    Model,
    ModelEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    stream_text,
)
from agent_sessions.agent.models.offline import OfflineModel
from agent_sessions.agent.models.tools import Tool, tool

__all__ = [
    "Finish",
    "Model",
    "ModelEvent",
    "OfflineModel",
    "ReasoningDelta",
    "TextDelta",
    "Tool",
    "ToolCall",
    "stream_text",
    "tool",
]
