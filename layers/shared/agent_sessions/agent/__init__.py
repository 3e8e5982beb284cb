"""The Python agent SDK: `chat.agent(...)`, its hooks and turn loop, and the model adapters."""

from agent_sessions.agent.chat import ChatSession, chat
from agent_sessions.agent.types import AbortSignal, ChatEvent, Compaction, PendingMessages, Turn

__all__ = ["AbortSignal", "ChatEvent", "ChatSession", "Compaction", "PendingMessages", "Turn", "chat"]
