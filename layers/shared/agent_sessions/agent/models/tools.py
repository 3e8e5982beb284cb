"""Tools: a pydantic input model described to models as JSON Schema, with or without a Python function.

Three kinds, as the AI SDK's `tool()`:
- a server tool (`@tool(...)` on a function): the model loop runs it and streams its output;
- an approval-required server tool (`@tool(..., needs_approval=True)` or a callable deciding from
  the input): the call streams `tool-approval-request` and the turn ends; the function runs on the
  turn that carries the approval, never on a denial;
- a client tool (`client_tool(...)`, no function): the call streams `tool-input-available` and the
  turn ends; the browser answers with `addToolOutput` and the model loop continues from there.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

ApprovalPolicy = bool | Callable[[Any], bool]
"""`needs_approval`: always/never, or a function of the validated input model instance."""


@dataclass(frozen=True)
class Tool:
    """A tool the model may call (the AI SDK's `tool({description, inputSchema, execute,
    needsApproval})`): `name`, `description`, `input_model` (a pydantic model; its JSON Schema is what
    the model sees), `fn` (`fn(args: input_model) -> JSON-able result or pydantic model`, sync or
    async; None for a client tool) and `needs_approval`. Build one with `@tool(...)` or `client_tool`."""

    name: str
    description: str
    input_model: type[BaseModel]
    fn: Callable[[Any], Any] | None = None
    """None for a client tool: the person's client supplies the output."""
    needs_approval: ApprovalPolicy = False

    @property
    def is_client(self) -> bool:
        """True for a client tool (no `fn`): the browser supplies the output with `addToolOutput`."""
        return self.fn is None

    def json_schema(self) -> dict[str, Any]:
        """The input's JSON Schema, as sent to the model (`input_model.model_json_schema()`)."""
        return self.input_model.model_json_schema()

    def requires_approval(self, raw_input: Any) -> bool:
        """Whether a call with `raw_input` must be approved before it runs (a callable policy that
        cannot read the input, or raises, asks for approval: an unreadable call never runs unasked)."""
        if not callable(self.needs_approval):
            return bool(self.needs_approval)
        try:
            return bool(self.needs_approval(self.input_model.model_validate(raw_input or {})))
        except Exception:
            return True

    def execute(self, raw_input: Any) -> Any:
        """Validate, call, and return a JSON-able result; raises ToolError with a readable message."""
        if self.fn is None:
            raise ToolError(f"{self.name} is a client tool: its output comes from the client")
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
    """A tool call failed (bad input, or the tool raised): streamed as `tool-output-error` with this
    message, which the model sees as the call's result."""


def tool(
    description: str, *, name: str | None = None, needs_approval: ApprovalPolicy = False
) -> Callable[[Callable[[Any], Any]], Tool]:
    """Decorate `def fn(args: InputModel) -> result` into a `Tool` (the AI SDK's `tool()`); the
    annotation supplies the input schema, `name` defaults to the function's. Raises `TypeError` unless
    the function takes exactly one argument annotated with a pydantic model.

    `needs_approval=True` (or `lambda args: ...` returning True) makes each call wait for the
    person's `addToolApprovalResponse` (the AI SDK's `needsApproval`)."""

    def wrap(fn: Callable[[Any], Any]) -> Tool:
        params = list(inspect.signature(fn).parameters.values())
        hints = inspect.get_annotations(fn, eval_str=True)
        if (
            len(params) != 1
            or not isinstance(hints.get(params[0].name), type)
            or not issubclass(hints[params[0].name], BaseModel)
        ):
            raise TypeError("a tool takes exactly one argument annotated with a pydantic model")
        return Tool(name or fn.__name__, description, hints[params[0].name], fn, needs_approval)

    return wrap


def client_tool(name: str, description: str, input_model: type[BaseModel]) -> Tool:
    """A tool the client answers (the AI SDK's `tool()` without `execute`): the model's call ends the
    turn with the call pending (`tool-input-available`); `addToolOutput` in the browser answers it."""
    return Tool(name, description, input_model)
