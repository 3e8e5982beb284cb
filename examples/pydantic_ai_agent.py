"""A Pydantic AI agent with a tool, served as a chat agent (`?agent=pydantic-weather` in the web chat).

Offline by default: a `FunctionModel` stands in for the LLM. It thinks aloud (a reasoning part), calls
`get_weather` for a city it knows, then streams an answer built from the tool's output word by word.
Set `AGENT_SESSIONS_PYDANTIC_AI_MODEL` to any Pydantic AI model name
(`bedrock:anthropic.claude-3-5-haiku-20241022-v1:0`, `openai:gpt-4o-mini`, ...) to use a real one.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import (
    AgentInfo,
    DeltaThinkingCalls,
    DeltaThinkingPart,
    DeltaToolCall,
    DeltaToolCalls,
    FunctionModel,
)

from agent_sessions.agent import Turn, chat
from agent_sessions.agent.messages import Chunk
from agent_sessions.integrations.pydantic_ai import stream_agent

FORECASTS = {"paris": "sunny, 21°C", "oslo": "snow, -3°C", "lima": "cloudy, 18°C"}
WORD_DELAY_SECONDS = 0.03


def get_weather(city: str) -> dict[str, str]:
    """Current weather for a city.

    Args:
        city: City name, e.g. Paris.
    """
    return {"city": city, "forecast": FORECASTS.get(city.lower(), "mild, 15°C")}


async def offline_model(
    messages: list[ModelMessage], info: AgentInfo
) -> AsyncIterator[str | DeltaToolCalls | DeltaThinkingCalls]:
    """A deterministic stand-in for an LLM: tool call when a known city is asked about, then an answer."""
    last = messages[-1]
    results = (
        [p for p in last.parts if isinstance(p, ToolReturnPart)] if isinstance(last, ModelRequest) else []
    )
    if results:
        forecast = results[-1].model_response_object()
        for word in f"In {forecast['city']} it is {forecast['forecast']}.".split(" "):
            await asyncio.sleep(WORD_DELAY_SECONDS)
            yield word + " "
        return
    asked = (
        next((str(p.content) for p in reversed(last.parts) if isinstance(p, UserPromptPart)), "")
        if isinstance(last, ModelRequest)
        else ""
    )
    city = next((c for c in FORECASTS if c in asked.lower()), None)
    if city is not None:
        yield {0: DeltaThinkingPart(content=f"The user asks about {city.title()}; I will look it up.")}
        yield {1: DeltaToolCall(name="get_weather", json_args=json.dumps({"city": city.title()}))}
        return
    for word in f"Ask me about the weather in {', '.join(c.title() for c in FORECASTS)}.".split(" "):
        await asyncio.sleep(WORD_DELAY_SECONDS)
        yield word + " "


def _model() -> Model | str:
    return os.environ.get("AGENT_SESSIONS_PYDANTIC_AI_MODEL") or FunctionModel(
        stream_function=offline_model, model_name="offline-weather"
    )


weather_agent = Agent(
    _model(),
    instructions="You answer weather questions. Use get_weather for every city you are asked about.",
    tools=[get_weather],
)


@chat.agent(id="pydantic-weather")
def pydantic_weather(turn: Turn) -> AsyncIterator[Chunk]:
    return stream_agent(weather_agent, turn)
