"""Compaction: replace the older part of a chat's history with one summary message.

Invariant: the last `keep_last` messages are kept unchanged and in order; everything before them is
replaced by a single `system` message holding the summary. Nothing changes when there is nothing older.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_sessions.agent.messages import UIMessage
from agent_sessions.agent.types import Compaction
from agent_sessions.ids import new_record_id


@dataclass(frozen=True)
class Compacted:
    messages: list[UIMessage]
    summarized: int
    """How many messages the summary replaced."""


def compact(messages: list[UIMessage], compaction: Compaction | None) -> Compacted | None:
    """The compacted history, or None when the agent has no compaction or it is not due."""
    if compaction is None or not compaction.should_compact(messages):
        return None
    keep = messages[-compaction.keep_last :] if compaction.keep_last else []
    older = messages[: len(messages) - len(keep)]
    if not older:
        return None
    summary = compaction.summarize(older)
    summary_message: UIMessage = {
        "id": f"summary_{new_record_id()}",
        "role": "system",
        "parts": [{"type": "text", "text": summary}],
    }
    return Compacted([summary_message, *keep], len(older))
