"""Lambda: run-reaper, on a schedule: recover runs whose lease ran out. Logic lives in the layer."""

from agent_sessions.lambda_entry import reaper_handler

handler = reaper_handler()
