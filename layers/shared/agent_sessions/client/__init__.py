"""Python client SDK: server helpers, `ChatTransport`, `AgentChat`, SSE reading. No boto3, no PynamoDB.

from agent_sessions.client import AgentSessions, ChatTransport

client = AgentSessions(secret_key="tr_dev_...", base_url="http://127.0.0.1:8787")
start = client.sessions.create_start_session_action("demo-chat")
transport = ChatTransport("demo-chat", base_url=client.base_url, start_session=start,
                          access_token=lambda chat_id: client.auth.create_public_token(
                              scopes={"read": {"sessions": chat_id}, "write": {"sessions": chat_id}}))
for chunk in transport.send_message("chat-1", "hello"):
    ...
"""

from agent_sessions.client.agent_chat import AgentChat
from agent_sessions.client.aio import AsyncAgentChat, AsyncChatStream, AsyncChatTransport
from agent_sessions.client.client import AgentSessions
from agent_sessions.client.errors import (
    AgentSessionsError,
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    SessionClosedError,
)
from agent_sessions.client.sse import RecordStream, StreamEnded
from agent_sessions.client.transport import ChatStream, ChatTransport
from agent_sessions.client.types import (
    ChatSessionState,
    CreatedSession,
    Record,
    Session,
    SessionPage,
    SessionRun,
    StartSessionResult,
    TriggeredEvent,
)
from agent_sessions.transcript import (
    TranscriptChangeset,
    TranscriptCursors,
    TranscriptPage,
    TranscriptScope,
    TranscriptStorage,
)

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "AgentChat",
    "AgentSessions",
    "AgentSessionsError",
    "AsyncAgentChat",
    "AsyncChatStream",
    "AsyncChatTransport",
    "AuthenticationError",
    "BadRequestError",
    "ChatSessionState",
    "ChatStream",
    "ChatTransport",
    "ConflictError",
    "CreatedSession",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Record",
    "RecordStream",
    "Session",
    "SessionClosedError",
    "SessionPage",
    "SessionRun",
    "StartSessionResult",
    "StreamEnded",
    "TranscriptChangeset",
    "TranscriptCursors",
    "TranscriptPage",
    "TranscriptScope",
    "TranscriptStorage",
    "TriggeredEvent",
]
