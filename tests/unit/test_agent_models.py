"""The UI-message reducer, model-message conversion and the multi-step tool loop."""

from __future__ import annotations

from pydantic import BaseModel

from agent_sessions.agent.messages import MessageAccumulator, text_of, to_model_messages
from agent_sessions.agent.models import OfflineModel, stream_text, tool


class WeatherInput(BaseModel):
    city: str


@tool("Current weather for a city")
def get_weather(args: WeatherInput) -> dict[str, str]:
    return {"city": args.city, "forecast": "sunny"}


def user(text: str, id: str = "u1") -> dict[str, object]:
    return {"id": id, "role": "user", "parts": [{"type": "text", "text": text}]}


def test_accumulator_builds_the_assistant_message() -> None:
    acc = MessageAccumulator("m0")
    for chunk in [
        {"type": "start", "messageId": "m1"},
        {"type": "start-step"},
        {"type": "reasoning-start", "id": "r"},
        {"type": "reasoning-delta", "id": "r", "delta": "hmm"},
        {"type": "reasoning-end", "id": "r"},
        {"type": "text-start", "id": "t"},
        {"type": "text-delta", "id": "t", "delta": "Hel"},
        {"type": "text-delta", "id": "t", "delta": "lo"},
        {"type": "text-end", "id": "t"},
        {"type": "tool-input-start", "toolCallId": "c", "toolName": "get_weather"},
        {
            "type": "tool-input-available",
            "toolCallId": "c",
            "toolName": "get_weather",
            "input": {"city": "Oslo"},
        },
        {"type": "tool-output-available", "toolCallId": "c", "output": {"forecast": "snow"}},
        {"type": "data-progress", "data": {"p": 1}, "transient": True},
        {"type": "data-card", "id": "d", "data": {"x": 1}},
        {"type": "finish"},
    ]:
        acc.add(chunk)
    message = acc.message
    assert message["id"] == "m1" and text_of(message) == "Hello"
    kinds = [p["type"] for p in message["parts"]]
    assert kinds == ["step-start", "reasoning", "text", "tool-get_weather", "data-card"]
    assert message["parts"][3]["state"] == "output-available" and message["parts"][3]["output"] == {
        "forecast": "snow"
    }


def test_ui_messages_become_model_messages_with_tool_round_trips() -> None:
    assistant = {
        "id": "a",
        "role": "assistant",
        "parts": [
            {"type": "text", "text": "checking"},
            {
                "type": "tool-get_weather",
                "toolCallId": "c",
                "state": "output-available",
                "input": {"city": "Oslo"},
                "output": {"forecast": "snow"},
            },
        ],
    }
    model = to_model_messages([user("hi"), assistant])
    assert [m["role"] for m in model] == ["user", "assistant", "tool"]
    assert model[1]["content"][1] == {
        "type": "tool-call",
        "toolCallId": "c",
        "toolName": "get_weather",
        "input": {"city": "Oslo"},
    }
    assert model[2]["content"][0]["output"] == {"forecast": "snow"}


def test_stream_text_runs_tools_between_steps() -> None:
    chunks = list(stream_text(OfflineModel(), [user("What is the weather in Paris?")], tools=[get_weather]))
    kinds = [c["type"] for c in chunks]
    assert kinds.count("start-step") == 2 and kinds.count("finish-step") == 2
    available = next(c for c in chunks if c["type"] == "tool-input-available")
    assert available["toolName"] == "get_weather" and available["input"] == {"city": "Paris"}
    output = next(c for c in chunks if c["type"] == "tool-output-available")
    assert output["output"] == {"city": "Paris", "forecast": "sunny"}
    text = "".join(c["delta"] for c in chunks if c["type"] == "text-delta")
    assert "sunny" in text


def test_tool_input_errors_are_reported_to_the_model_not_raised() -> None:
    class Bad(OfflineModel):
        def __init__(self) -> None:
            super().__init__(tool_inputs=lambda _tool, _text: {"town": 1})

    chunks = list(stream_text(Bad(), [user("weather please")], tools=[get_weather]))
    error = next(c for c in chunks if c["type"] == "tool-output-error")
    assert "invalid input for get_weather" in error["errorText"]


def test_max_steps_bounds_the_loop() -> None:
    chunks = list(stream_text(OfflineModel(), [user("weather in Rome")], tools=[get_weather], max_steps=1))
    assert [c["type"] for c in chunks].count("start-step") == 1


def test_pending_messages_are_injected_between_steps() -> None:
    steer = [user("also tell me a joke", id="u2")]

    def pending() -> list[dict[str, object]]:
        taken, steer[:] = list(steer), []
        return taken

    chunks = list(
        stream_text(OfflineModel(), [user("weather in Rome")], tools=[get_weather], pending=pending)
    )
    injected = [c for c in chunks if c["type"] == "data-pending-message-injected"]
    assert injected == [
        {"type": "data-pending-message-injected", "data": {"messageId": "u2"}, "transient": True}
    ]
    text = "".join(c["delta"] for c in chunks if c["type"] == "text-delta")
    assert "also tell me a joke" in text, "the second step answered the injected message"


def test_a_tool_must_take_one_pydantic_argument() -> None:
    try:
        tool("x")(lambda a, b: None)
    except TypeError:
        return
    raise AssertionError("expected TypeError")


def test_the_echo_keeps_a_sentence_mark_the_message_already_has() -> None:
    """The demo echo doubled a final period ("You said: please.. This reply …")."""
    from agent_sessions.agent.models.offline import echo_reply

    assert echo_reply("please.").startswith("You said: please. This reply")
    assert echo_reply("why?").startswith("You said: why? This reply")
    assert echo_reply("hello").startswith("You said: hello. This reply")
    assert echo_reply("").startswith("You said: (nothing). This reply")
