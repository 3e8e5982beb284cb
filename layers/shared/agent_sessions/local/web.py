"""The web chat's backend: the two "server actions" a Next.js app would have, plus chat listing.

Written with the Python server helpers against this very stack, exactly as a customer's backend
would be, and the built web app (`web/dist`) served at `/`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from agent_sessions.agents import load_agents
from agent_sessions.client import AgentSessions, AgentSessionsError, NotFoundError, Session
from agent_sessions.config import get_settings

WEB_DIST = Path(__file__).resolve().parents[4] / "web" / "dist"


@cache
def _client(base_url: str) -> AgentSessions:
    return AgentSessions(secret_key=get_settings().secret_key, base_url=base_url)


def _for(request: Request) -> AgentSessions:
    return _client(str(request.base_url).rstrip("/"))


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def start(request: Request) -> Response:
    body = await _json(request)
    client = _for(request)
    task = request.query_params.get("agent") or str(body.get("taskId") or "demo-chat")
    # A dev knob of this local backend (the stack clamps it again): a short warm window to try suspend.
    idle = body.get("idleTimeoutInSeconds")
    config = {"idleTimeoutInSeconds": idle} if isinstance(idle, int) and idle > 0 else None
    action = client.sessions.create_start_session_action(task, trigger_config=config)
    result = await run_in_threadpool(
        action, {"chat_id": body.get("chatId"), "client_data": body.get("clientData")}
    )
    return JSONResponse(
        {
            "publicAccessToken": result.public_access_token,
            "sessionId": result.session_id,
            "runId": result.run_id,
        }
    )


async def token(request: Request) -> Response:
    chat_id = str((await _json(request)).get("chatId") or "")
    scopes = {"read": {"sessions": chat_id}, "write": {"sessions": chat_id}}
    minted = await run_in_threadpool(
        _for(request).auth.create_public_token, scopes=scopes, expiration_time="1h"
    )
    return JSONResponse({"token": minted})


def _chat(session: Session) -> dict[str, Any]:
    return {
        "chatId": session.external_id or session.id,
        "sessionId": session.id,
        "agent": session.task_identifier,
        "closed": session.is_closed,
        "closedReason": session.closed_reason,
        "createdAt": session.created_at.isoformat(),
    }


async def chats(request: Request) -> Response:
    page = await run_in_threadpool(_for(request).sessions.list, limit=50, type="chat.agent")
    return JSONResponse([_chat(s) for s in page.data])


async def chat(request: Request) -> Response:
    """One chat's agent and state; `{started: false}` for a chat id no session has yet."""
    try:
        session = await run_in_threadpool(_for(request).sessions.retrieve, request.path_params["chat"])
    except NotFoundError:
        return JSONResponse({"chatId": request.path_params["chat"], "started": False})
    return JSONResponse({**_chat(session), "started": True})


async def transcript(request: Request) -> Response:
    """The chat's history for `useLoadTranscript` (a real app checks the user owns the chat first)."""
    query = request.query_params
    params: dict[str, Any] = {"chatId": request.path_params["chat"], "limit": query.get("limit") or 50}
    if query.get("before"):
        params["before"] = query["before"]
    try:
        page = await run_in_threadpool(_for(request).sessions.create_load_transcript_action(), params)
    except NotFoundError:
        return JSONResponse({"messages": [], "state": None, "cursors": {}})
    return JSONResponse(page.wire())


async def agents(_: Request) -> Response:
    return JSONResponse(await run_in_threadpool(load_agents))


async def runs(request: Request) -> Response:
    try:
        history = await run_in_threadpool(_for(request).sessions.runs, request.path_params["chat"])
    except NotFoundError:
        history = []  # not started yet
    return JSONResponse(
        [{"runId": r.run_id, "reason": r.reason, "triggeredAt": r.triggered_at.isoformat()} for r in history]
    )


async def close(request: Request) -> Response:
    closed = await run_in_threadpool(
        _for(request).sessions.close, request.path_params["chat"], reason="closed in web"
    )
    return JSONResponse({"closed": closed.is_closed})


async def _favicon(_: Request) -> Response:
    return FileResponse(WEB_DIST / "favicon.svg", media_type="image/svg+xml")


async def _not_built(_: Request) -> Response:
    return HTMLResponse("<p>The web chat is not built: run <code>make web</code> (make dev does it).</p>")


def _errors(endpoint: Any) -> Any:
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except AgentSessionsError as exc:
            status = getattr(exc, "status_code", 502)
            return JSONResponse({"error": str(exc)}, status_code=status)

    return wrapped


def routes() -> list[Any]:
    api = [
        Route("/web/api/start", _errors(start), methods=["POST"]),
        Route("/web/api/token", _errors(token), methods=["POST"]),
        Route("/web/api/agents", _errors(agents)),
        Route("/web/api/chats", _errors(chats)),
        Route("/web/api/chats/{chat:str}", _errors(chat)),
        Route("/web/api/chats/{chat:str}/transcript", _errors(transcript)),
        Route("/web/api/chats/{chat:str}/runs", _errors(runs)),
        Route("/web/api/chats/{chat:str}/close", _errors(close), methods=["POST"]),
    ]
    if (WEB_DIST / "index.html").exists():
        return [
            *api,
            Mount("/assets", StaticFiles(directory=WEB_DIST / "assets")),
            Route("/favicon.ico", _favicon),
            Route("/", lambda _r: Response((WEB_DIST / "index.html").read_bytes(), media_type="text/html")),
        ]
    return [*api, Route("/", _not_built)]
