"""Peak Python memory of one SSE connection draining a log, run in its own process.

`python -m bench.sse_memory <session_id> <frame budget in bytes | unbounded>` against the DynamoDB
endpoint in the environment (the local stack's), prints one JSON object. Its own process so that
tracemalloc sees only the reader: the local stack's DynamoDB server lives in the parent.
"""

from __future__ import annotations

import json
import sys
import tracemalloc

from agent_sessions import store
from agent_sessions.config import get_settings
from agent_sessions.http.stream import follow

UNBOUNDED = 1 << 62


def measure(session_id: str, budget: int) -> dict[str, int]:
    get_settings().read_max_bytes = budget
    store.configure()
    list(follow(session_id, "out", 1 << 40, 0))  # warm up: boto clients, connections, imports
    tracemalloc.start()
    frames = records = largest = 0
    for frame in follow(session_id, "out", -1, 0):
        if frame.startswith(b"id:"):
            frames += 1
            records += frame.count(b'"seq_num"') - 1  # the tail has one too
            largest = max(largest, len(frame))
        del frame
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"frames": frames, "records": records, "largest_frame_bytes": largest, "peak_bytes": peak}


if __name__ == "__main__":
    session, mode = sys.argv[1], sys.argv[2]
    print(json.dumps(measure(session, UNBOUNDED if mode == "unbounded" else int(mode))))
