"""Agents the browser tests talk to besides demo-chat (loaded into the e2e stack)."""

from __future__ import annotations

from collections.abc import Iterator

from agent_sessions.agent import Turn, chat
from agent_sessions.agent.messages import text_of


@chat.agent(id="t-fails")
def fails(turn: Turn) -> Iterator[str]:
    """Starts a reply, then fails: the browser shows the agent's `error` chunk."""
    yield "Looking into it"
    raise RuntimeError("the weather service is down")


@chat.agent(id="t-echo")
def echo(turn: Turn) -> Iterator[str]:
    """A second agent with replies of its own, to tell which agent a chat opened in."""
    for word in f"t-echo heard: {text_of(turn.message or {})}".split(" "):
        yield word + " "
