"""Tools: a Python function with a pydantic input model, described to models as JSON Schema."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_model: type[BaseModel]
    fn: Callable[[Any], Any]

    def json_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()

    def execute(self, raw_input: Any) -> Any:
        """Validate, call, and return a JSON-able result; raises ToolError with a readable message."""
        try:
            args = self.input_model.model_validate(raw_input or {})
        except ValidationError as exc:
            raise ToolError(f"invalid input for {self.name}: {exc.errors()[0].get('msg')}") from exc
        result = self.fn(args)
        if inspect.isawaitable(result):
            import asyncio

            result = asyncio.run(_await(result))
        return result.model_dump() if isinstance(result, BaseModel) else result


async def _await(awaitable: Any) -> Any:
    return await awaitable


class ToolError(Exception):
    pass


def tool(description: str, *, name: str | None = None) -> Callable[[Callable[[Any], Any]], Tool]:
    """Decorate `def fn(args: InputModel) -> result`; the annotation supplies the input schema."""

    def wrap(fn: Callable[[Any], Any]) -> Tool:
        params = list(inspect.signature(fn).parameters.values())
        hints = inspect.get_annotations(fn, eval_str=True)
        if (
            len(params) != 1
            or not isinstance(hints.get(params[0].name), type)
            or not issubclass(hints[params[0].name], BaseModel)
        ):
            raise TypeError("a tool takes exactly one argument annotated with a pydantic model")
        return Tool(name or fn.__name__, description, hints[params[0].name], fn)

    return wrap
