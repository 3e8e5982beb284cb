"""Agents the bench registers beside demo-chat: replies of an exact number of text deltas.

`bench-20` streams 20 text deltas and `bench-1000` streams 1,000, both at `CHUNKS_PER_SECOND`
(a model's typical streaming rate), so DynamoDB requests per turn are counted on known shapes.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent_sessions.agent import Turn, chat
from agent_sessions.agent.messages import Chunk
from agent_sessions.agent.models import OfflineModel

CHUNKS_PER_SECOND = 50.0
SIZES = (20, 1000)


def _words(n: int) -> str:
    return " ".join(["w"] * n)


def _define(n: int) -> None:
    model = OfflineModel(lambda _text: _words(n), delay_seconds=1 / CHUNKS_PER_SECOND)

    def run(turn: Turn) -> Iterable[Chunk]:
        return turn.stream_text(model)

    chat.agent(id=f"bench-{n}", run=run)


for _n in SIZES:
    _define(_n)
