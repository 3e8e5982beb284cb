"""Lambda: session-control. All logic lives in the agent_sessions layer."""

from agent_sessions.lambda_entry import http_handler

handler = http_handler("control")
