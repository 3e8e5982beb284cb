"""Where every client finds its server and secret key: one lookup for `AgentSessions`, `AgentChat`,
`ChatTransport` and the `agent-sessions` CLI.

Base URL: the explicit argument, else `AGENT_SESSIONS_URL`, else `TRIGGER_API_URL`, else the URL the
local stack wrote to `<state dir>/url`, else `http://127.0.0.1:8787`.
Secret key: the explicit argument, else `AGENT_SESSIONS_SECRET_KEY`, else `TRIGGER_SECRET_KEY`, else
the dev key the local stack keeps in `<state dir>/secret-key`.
The state dir is `AGENT_SESSIONS_STATE_DIR`, else `.agent-sessions` under the current directory: the
folder `make dev` uses, so a script or shell started from the project folder needs no setup, on any
port. The environment always wins, so a deployed backend never reads these files by accident of
having them.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BASE_URL = "http://127.0.0.1:8787"
STATE_DIR_ENV = "AGENT_SESSIONS_STATE_DIR"
URL_FILE = "url"
SECRET_KEY_FILE = "secret-key"


def local_state_dir() -> Path:
    """The local stack's state folder: `$AGENT_SESSIONS_STATE_DIR`, else `./.agent-sessions`."""
    return Path(os.environ.get(STATE_DIR_ENV) or ".agent-sessions")


def _read(name: str) -> str | None:
    path = local_state_dir() / name
    try:
        return path.read_text().strip() or None
    except OSError:  # absent or unreadable: there is no local stack here
        return None


def local_base_url() -> str | None:
    """The URL the local stack in the state folder last started on (`<state dir>/url`), if any."""
    return _read(URL_FILE)


def local_secret_key() -> str | None:
    """The local stack's dev secret key (`<state dir>/secret-key`), if any."""
    return _read(SECRET_KEY_FILE)


def resolve_base_url(explicit: str | None = None) -> str:
    """The base URL, without a trailing slash, by the order in this module's docstring."""
    url = (
        explicit
        or os.environ.get("AGENT_SESSIONS_URL")
        or os.environ.get("TRIGGER_API_URL")
        or local_base_url()
        or DEFAULT_BASE_URL
    )
    return url.rstrip("/")


def resolve_secret_key(explicit: str | None = None) -> str | None:
    """The secret key by the order in this module's docstring; None when there is none anywhere."""
    return (
        explicit
        or os.environ.get("AGENT_SESSIONS_SECRET_KEY")
        or os.environ.get("TRIGGER_SECRET_KEY")
        or local_secret_key()
    )


def write_local_base_url(state_dir: Path, url: str) -> None:
    """Called by the local stack when it starts, so the lookup above finds it on any port."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / URL_FILE).write_text(url + "\n")
