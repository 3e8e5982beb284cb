"""A script that talks to an agent from a backend with the secret key.

    AGENT_SESSIONS_URL=http://127.0.0.1:8787 AGENT_SESSIONS_SECRET_KEY=tr_dev_... \\
        python -m examples.agent_chat_script "What is the weather in Paris?"
"""

from __future__ import annotations

import sys

from agent_sessions.client import AgentChat


def main(question: str) -> str:
    chat = AgentChat("weather", id="script-weather")
    for chunk in chat.send_message(question):  # streamed as it is generated
        if chunk.get("type") == "text-delta":
            print(chunk["delta"], end="", flush=True)
    print()
    return chat.text("And the weather in Oslo?")  # or collect the whole reply at once


if __name__ == "__main__":
    print(main(" ".join(sys.argv[1:]) or "What is the weather in Paris?"))
