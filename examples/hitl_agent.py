"""Human in the loop: an agent that asks the person to pick an option and asks before sending email.

Task id `hitl`. Two tools:
- `ask_user` is a client tool (no function): the model's call ends the turn with the question
  pending (`tool-input-available`, input `{question, options: [{id, label}]}`); the browser
  answers with `addToolOutput({tool: "ask_user", toolCallId, output: {optionId, label}})`.
- `send_email` needs approval: the call streams `tool-approval-request` and the turn ends; on
  `addToolApprovalResponse({id, approved: true})` it runs once, on a denial it never runs.

Offline by default, with a scripted model so tests are deterministic:
- a message that mentions "email" (`email bob@example.com about lunch`) calls `send_email`
  (to: the first address, subject: the words after "about");
- any other message says "Let me ask you first." and calls `ask_user` with three options;
- after a tool result it says what happened: "You picked <label>.", "Email #<n> sent to <to>."
  (n counts this chat's sent emails, so a second send shows up), or "I did not send the email."
Set AGENT_SESSIONS_MODEL=bedrock:<model id> or openai:<model> to use a real model instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel, Field

from agent_sessions.agent import Turn, chat
from agent_sessions.agent.messages import Chunk, ModelMessage
from agent_sessions.agent.models import Finish, Model, ModelEvent, TextDelta, Tool, ToolCall, from_env, tool
from agent_sessions.agent.models.tools import client_tool


class Option(BaseModel):
    id: str
    label: str


class Question(BaseModel):
    question: str = Field(description="What to ask the person")
    options: list[Option] = Field(description="2 to 4 options to pick from", min_length=2, max_length=4)


class Email(BaseModel):
    to: str
    subject: str
    body: str = ""


ask_user = client_tool("ask_user", "Ask the person a question; they pick one of the options.", Question)


@tool("Send an email. The person approves each one before it is sent.", needs_approval=True)
def send_email(email: Email) -> dict[str, Any]:
    # A real tool would call a mail API here with the approval id as idempotency key.
    sent = [*chat.store.get("sent", []), {"to": email.to, "subject": email.subject}]
    chat.store.set("sent", sent)
    return {"status": "sent", "to": email.to, "subject": email.subject, "count": len(sent)}


OPTIONS = [
    {"id": "paris", "label": "Paris"},
    {"id": "rome", "label": "Rome"},
    {"id": "oslo", "label": "Oslo"},
]
QUESTION = {"question": "Which city should I plan for?", "options": OPTIONS}


class ScriptedModel:
    """The offline stand-in: picks the tool from the last user message, reports the tool's result."""

    def __init__(self) -> None:
        self.calls = 0

    def stream(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> Iterator[ModelEvent]:
        self.calls += 1
        last = messages[-1] if messages else {"role": "user", "content": []}
        if last["role"] == "tool":
            yield from _words(" ".join(_report(result) for result in last["content"]))
            yield Finish("stop")
            return
        text = " ".join(str(c.get("text", "")) for c in last.get("content") or [] if c.get("type") == "text")
        if re.search(r"\bemail\b", text, re.IGNORECASE):
            address = re.search(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text)
            subject = text.split(" about ", 1)[1].strip() if " about " in text else "hello"
            to = address.group(0) if address else "someone@example.com"
            yield ToolCall(f"call_{self.calls}_email", "send_email", {"to": to, "subject": subject})
            yield Finish("tool-calls")
            return
        yield from _words("Let me ask you first.")
        yield ToolCall(f"call_{self.calls}_ask", "ask_user", QUESTION)
        yield Finish("tool-calls")


def _report(result: dict[str, Any]) -> str:
    output = result.get("output")
    if result.get("status") == "denied":
        return "I did not send the email."
    if result.get("toolName") == "ask_user" and isinstance(output, dict):
        return f"You picked {output.get('label')}."
    if isinstance(output, dict) and output.get("status") == "sent":
        return f"Email #{output['count']} sent to {output['to']}."
    return f"The tool said: {output}"


def _words(text: str) -> Iterator[ModelEvent]:
    for i, word in enumerate(text.split(" ")):
        yield TextDelta(word if i == 0 else " " + word)


def _model() -> Model:
    real = from_env()
    return ScriptedModel() if real.__class__.__name__ == "OfflineModel" else real


model = _model()


@chat.agent(id="hitl")
def hitl(turn: Turn) -> Iterable[Chunk]:
    return turn.stream_text(
        model,
        tools=[ask_user, send_email],
        system=(
            "You help plan trips and send email. Ask the person with ask_user when a choice is theirs; "
            "send email only with send_email."
        ),
    )
