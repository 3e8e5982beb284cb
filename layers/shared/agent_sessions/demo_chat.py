"""`demo-chat`: the example agent, written with `chat.agent`.

It answers every user message by streaming a reply word by word from the deterministic offline
model (so it needs no credentials), honours stop, and queues messages sent mid-turn as later turns.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent_sessions.agent import Turn, chat
from agent_sessions.agent.messages import Chunk
from agent_sessions.agent.models import OfflineModel
from agent_sessions.agent.models.offline import echo_reply

DELTA_INTERVAL_SECONDS = 0.07
model = OfflineModel(delay_seconds=DELTA_INTERVAL_SECONDS)


def reply_for(text: str) -> list[str]:
    """The deltas demo-chat streams for `text` (at least eight)."""
    words = echo_reply(text).split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


@chat.agent(id="demo-chat")
def demo_chat(turn: Turn) -> Iterable[Chunk]:
    return turn.stream_text(model)
