"""A tool-using agent: answers weather questions by calling `get_weather` in a multi-step loop.

Runs offline by default (a deterministic model that calls the tool when you mention the weather);
set AGENT_SESSIONS_MODEL=bedrock:<model id> or openai:<model> to use a real model.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from agent_sessions.agent import ChatEvent, Turn, chat
from agent_sessions.agent.messages import Chunk
from agent_sessions.agent.models import from_env, tool


class WeatherQuery(BaseModel):
    city: str = Field(description="City name, e.g. Paris")


FORECASTS = {"paris": "sunny, 21°C", "oslo": "snow, -3°C", "lima": "cloudy, 18°C"}


@tool("Current weather for a city")
def get_weather(query: WeatherQuery) -> dict[str, str]:
    return {"city": query.city, "forecast": FORECASTS.get(query.city.lower(), "mild, 15°C")}


model = from_env(default_delay_seconds=0.03)


def count_questions(event: ChatEvent) -> None:
    chat.store.set("questions", chat.store.get("questions", 0) + 1)


@chat.agent(id="weather", on_turn_start=count_questions)
def weather(turn: Turn) -> Iterable[Chunk]:
    return turn.stream_text(
        model,
        tools=[get_weather],
        system="You answer weather questions. Use get_weather for every city you are asked about.",
    )
