"""The agent registry: task identifier → agent callable, filled by importing the agent modules."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from agent_sessions.config import get_settings

if TYPE_CHECKING:
    from agent_sessions.run_context import RunContext

Outcome = Literal["continue", "waiting", "done"]
Agent = Callable[["RunContext"], Outcome]

DEFAULT_AGENT_MODULES = ("agent_sessions.demo_chat",)

_AGENTS: dict[str, Agent] = {}


def agent(task_identifier: str) -> Callable[[Agent], Agent]:
    """Register an agent for a task identifier."""

    def register(fn: Agent) -> Agent:
        _AGENTS[task_identifier] = fn
        return fn

    return register


def load_agents() -> list[str]:
    """Import the agent modules (bundled and `AGENT_SESSIONS_AGENT_MODULES`); returns the task ids."""
    for module in (*DEFAULT_AGENT_MODULES, *get_settings().agent_modules):
        importlib.import_module(module)
    return sorted(_AGENTS)


def find_agent(task_identifier: str) -> Agent | None:
    if task_identifier not in _AGENTS:
        load_agents()
    return _AGENTS.get(task_identifier)


def known_task_ids() -> frozenset[str] | None:
    """Task identifiers a session may name, when the deployment knows them; None when it does not.

    `AGENT_SESSIONS_TASK_IDENTIFIERS` lists them where the API cannot import the agents (AWS: the
    worker is another function); the local stack sets `AGENT_SESSIONS_CHECK_TASKS` and checks the
    registry it loaded.
    """
    settings = get_settings()
    if settings.task_identifiers:
        return frozenset(settings.task_identifiers)
    if settings.check_tasks:
        return frozenset(load_agents())
    return None
