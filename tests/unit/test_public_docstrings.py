"""Every public class, function, method and property of the client and agent SDKs says what it does
(shapes, units, errors, the TypeScript call it mirrors): a public name added without one fails here."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

# Package namespaces (their `__all__`) and the modules whose public objects are reached through them.
MODULES = [
    "agent_sessions.client",
    "agent_sessions.client.resources",
    "agent_sessions.client.discovery",
    "agent_sessions.client.cli",
    "agent_sessions.agent",
    "agent_sessions.agent.chat",
    "agent_sessions.agent.types",
    "agent_sessions.agent.models",
    "agent_sessions.agent.models.bedrock",
    "agent_sessions.agent.models.openai",
]
DUNDERS = {"__init__", "__iter__", "__aiter__", "__enter__", "__exit__", "__aenter__", "__aexit__"}


def _own_doc(obj: Any) -> str:
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    return (doc or "").strip()


def _public(module_name: str) -> Iterator[tuple[str, Any]]:
    module = importlib.import_module(module_name)
    names = list(getattr(module, "__all__", ())) + [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module_name
    ]
    for name in names:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            obj = type(obj)  # a public instance (e.g. `chat`): its class documents it
        yield f"{module_name}.{name}", obj
        if not inspect.isclass(obj):
            continue
        fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else set()
        for attr, member in vars(obj).items():
            if attr.startswith("_") or attr in DUNDERS or attr in fields:  # a field's default is data
                continue
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            if isinstance(member, property):
                member = member.fget
            if inspect.isfunction(member):
                yield f"{module_name}.{name}.{attr}", member


PUBLIC = sorted({qualified: obj for module in MODULES for qualified, obj in _public(module)}.items())


@pytest.mark.parametrize(("name", "obj"), PUBLIC, ids=[name for name, _ in PUBLIC])
def test_has_a_docstring(name: str, obj: Any) -> None:
    assert _own_doc(obj), f"{name} has no docstring"
