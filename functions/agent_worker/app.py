"""Lambda: agent-worker, invoked by the agent_run state machine. Logic lives in the layer."""

from agent_sessions.lambda_entry import worker_handler

handler = worker_handler()
