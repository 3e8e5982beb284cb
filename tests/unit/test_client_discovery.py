"""One lookup finds the server and the secret key for `AgentSessions`, `AgentChat` and the CLI:
explicit, then the environment, then what the local stack wrote to its state folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_sessions.client import AgentChat, AgentSessions, AgentSessionsError
from agent_sessions.client.discovery import resolve_base_url, resolve_secret_key, write_local_base_url

KEY = "tr_dev_" + "D1scoveryK3y000000000000"
ENV_NAMES = ("AGENT_SESSIONS_URL", "TRIGGER_API_URL", "AGENT_SESSIONS_SECRET_KEY", "TRIGGER_SECRET_KEY")


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with no client configuration in the environment."""
    for name in (*ENV_NAMES, "AGENT_SESSIONS_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def local_stack_files(state_dir: Path, url: str = "http://127.0.0.1:18811") -> None:
    write_local_base_url(state_dir, url)
    (state_dir / "secret-key").write_text(KEY + "\n")


def test_nothing_configured_means_the_default_url_and_no_key(bare: Path) -> None:
    assert resolve_base_url() == "http://127.0.0.1:8787"
    assert resolve_secret_key() is None
    with pytest.raises(AgentSessionsError, match="no secret key"):
        AgentSessions()


def test_the_local_stack_is_found_on_any_port_from_the_project_folder(bare: Path) -> None:
    local_stack_files(bare / ".agent-sessions")
    with AgentSessions() as client:
        assert (client.base_url, client.secret_key) == ("http://127.0.0.1:18811", KEY)
    chat = AgentChat("demo-chat", id="c1")
    assert (chat.client.base_url, chat.client.secret_key) == ("http://127.0.0.1:18811", KEY)


def test_another_state_folder_is_named_by_agent_sessions_state_dir(
    bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_stack_files(bare / "elsewhere", "http://127.0.0.1:9000/")
    monkeypatch.setenv("AGENT_SESSIONS_STATE_DIR", str(bare / "elsewhere"))
    assert (resolve_base_url(), resolve_secret_key()) == ("http://127.0.0.1:9000", KEY)


def test_the_environment_beats_the_files_and_arguments_beat_both(
    bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_stack_files(bare / ".agent-sessions")
    monkeypatch.setenv("TRIGGER_API_URL", "https://api.example")
    monkeypatch.setenv("TRIGGER_SECRET_KEY", "tr_prod_env")
    assert (resolve_base_url(), resolve_secret_key()) == ("https://api.example", "tr_prod_env")
    monkeypatch.setenv("AGENT_SESSIONS_URL", "https://sessions.example")
    monkeypatch.setenv("AGENT_SESSIONS_SECRET_KEY", "tr_prod_ours")
    assert (resolve_base_url(), resolve_secret_key()) == ("https://sessions.example", "tr_prod_ours")
    assert resolve_base_url("http://x:1/") == "http://x:1"
    assert resolve_secret_key("tr_dev_arg") == "tr_dev_arg"
