"""A FastAPI backend for a browser chat: the two routes `useTriggerChatTransport` needs.

    AGENT_SESSIONS_URL=http://127.0.0.1:8787 AGENT_SESSIONS_SECRET_KEY=tr_dev_... \\
        uvicorn examples.fastapi_backend:app --port 3000

The browser calls POST /chat/start (its `startSession` callback) and POST /chat/token (its
`accessToken` callback); the secret key never leaves this server, and the signed-in user's id
(here: a header, in your app: your session cookie) overrides whatever the browser claims.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Header
from pydantic import BaseModel

from agent_sessions.client import AgentSessions

client = AgentSessions()
start_session = client.sessions.create_start_session_action(
    "demo-chat",
    trigger_config={"maxAttempts": 2, "idleTimeoutInSeconds": 60},
)
app = FastAPI(title="chat backend")


class StartBody(BaseModel):
    chatId: str
    clientData: dict[str, Any] | None = None


class TokenBody(BaseModel):
    chatId: str


@app.post("/chat/start")
def start(body: StartBody, x_user_id: str = Header(default="anonymous")) -> dict[str, str]:
    client_data = {**(body.clientData or {}), "userId": x_user_id}  # the server's word wins
    result = start_session({"chat_id": body.chatId, "client_data": client_data})
    return {
        "publicAccessToken": result.public_access_token,
        "sessionId": result.session_id,
        "runId": result.run_id,
    }


@app.post("/chat/token")
def token(body: TokenBody) -> dict[str, str]:
    scopes = {"read": {"sessions": body.chatId}, "write": {"sessions": body.chatId}}
    return {"token": client.auth.create_public_token(scopes=scopes, expiration_time="1h")}
