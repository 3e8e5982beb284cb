"""The tool-using example agent, end to end on the local stack."""

from __future__ import annotations

from agent_sessions.local.stack import LocalStack
from examples import weather_agent  # noqa: F401  (registers the "weather" agent)
from tests.integration.localstack import Chat, text_of


def test_weather_agent_calls_its_tool_and_answers_from_the_result(stack: LocalStack) -> None:
    talk = Chat(stack, "weather-1", task="weather")
    read = talk.turn("What is the weather in Oslo?")
    chunks = [r.chunk for r in read.records if r.chunk]
    call = next(c for c in chunks if c["type"] == "tool-input-available")
    assert call["toolName"] == "get_weather" and call["input"] == {"city": "Oslo"}
    output = next(c for c in chunks if c["type"] == "tool-output-available")
    assert output["output"] == {"city": "Oslo", "forecast": "snow, -3°C"}
    assert "snow, -3°C" in text_of(read.records)
    assert [c["type"] for c in chunks].count("start-step") == 2
