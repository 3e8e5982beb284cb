"""Agent frameworks as `chat.agent` turns. Each module imports its framework, so import the one you use
(`agent_sessions.integrations.pydantic_ai`); nothing here is imported by `agent_sessions` itself."""
