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
    "from_env",
    "stream_text",
    "tool",
]


def from_env(default_delay_seconds: float = 0.0) -> Model:
    """The model `AGENT_SESSIONS_MODEL` names: `bedrock:<id>`, `openai:<model>`; offline otherwise."""
    import os

    spec = os.environ.get("AGENT_SESSIONS_MODEL", "")
    kind, _, name = spec.partition(":")
    if kind == "bedrock" and name:
        from agent_sessions.agent.models.bedrock import BedrockModel

        return BedrockModel(name)
    if kind == "openai" and name:
        from agent_sessions.agent.models.openai import OpenAICompatibleModel

        return OpenAICompatibleModel(
            name, base_url=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
        )
    return OfflineModel(delay_seconds=default_delay_seconds)
