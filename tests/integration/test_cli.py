"""`agent-sessions` as a user runs it: a subprocess against the local stack."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agent_sessions.client import AgentSessions
from agent_sessions.local.__main__ import chat_command
from agent_sessions.local.stack import LocalStack

CLI = [sys.executable, "-m", "agent_sessions.client.cli"]


@pytest.fixture
def env(stack: LocalStack, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AGENT_SESSIONS_URL": stack.base_url,
        "AGENT_SESSIONS_SECRET_KEY": stack.secret_key,
        "AGENT_SESSIONS_CLI_STATE_DIR": str(tmp_path / "chats"),
        "PYTHONUNBUFFERED": "1",
    }


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)


def test_chat_streams_replies_and_resumes_the_same_chat_after_a_restart(
    env: dict[str, str], stack: LocalStack
) -> None:
    first = run(["chat", "demo-chat", "--chat-id", "cli-chat"], env, stdin="hello cli\n")
    assert first.returncode == 0, first.stderr
    assert "You said: hello cli." in first.stdout
    assert "agent-sessions chat demo-chat --chat-id cli-chat" in first.stdout
    second = run(["chat", "demo-chat", "--chat-id", "cli-chat"], env, stdin="second time\n")
    assert "You said: second time." in second.stdout
    with AgentSessions(stack.secret_key, stack.base_url) as client:
        assert [r.reason for r in client.sessions.runs("cli-chat")] == ["initial"]
    assert (Path(env["AGENT_SESSIONS_CLI_STATE_DIR"]) / "cli-chat.json").exists()


class Output:
    """Collects a subprocess's stdout on a thread, so tests can wait for text without blocking."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._pump, args=(process,), daemon=True)
        self._thread.start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for char in iter(lambda: process.stdout.read(1), ""):  # type: ignore[union-attr]
            self.text += char

    def wait_for(self, marker: str, *, after: int = 0, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while marker not in self.text[after:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"never saw {marker!r} in {self.text!r}")
            time.sleep(0.02)
        return self.text


def test_ctrl_c_stops_the_reply_the_next_reply_is_its_own_and_a_second_ctrl_c_quits(
    env: dict[str, str],
) -> None:
    """The stopped reply used to leak into the next one (`This reply isYou said: next …`): Ctrl-C
    killed its stream before the turn-complete, and the next stream replayed the rest first."""
    process = subprocess.Popen(
        [*CLI, "chat", "demo-chat", "--chat-id", "cli-stop"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdin is not None
    output = Output(process)
    process.stdin.write("a long question so that there is time to stop the streamed answer\n")
    process.stdin.flush()
    started = len(output.wait_for("You said:"))
    process.send_signal(signal.SIGINT)
    out = output.wait_for("you> ", after=started)
    stopped = out[started:]
    assert "[stopping]" in stopped and "[stopped]\n" in stopped
    assert "demo-chat." not in stopped.split("[stopping]")[-1]
    prompt = len(out)
    process.stdin.write("next\n")
    process.stdin.flush()
    out = output.wait_for("you> ", after=prompt)
    assert (
        out[prompt:].split("\n")[0]
        == "agent> You said: next. This reply is streamed word by word by demo-chat."
    )
    process.send_signal(signal.SIGINT)
    assert process.wait(20) == 0
    assert "Traceback" not in (process.stderr.read() if process.stderr else "")


def test_the_make_dev_banner_command_reaches_the_stack_on_its_port(
    env: dict[str, str], stack: LocalStack, tmp_path: Path
) -> None:
    """`make dev` on another port printed a command that tried 8787: the CLI finds the URL the stack
    wrote to its state folder, as it finds the dev key."""
    words = shlex.split(chat_command(stack))
    assigned = dict(word.split("=", 1) for word in words if "=" in word and not word.startswith("."))
    assert "AGENT_SESSIONS_URL" not in assigned and stack.port != 8787
    bare = {k: v for k, v in env.items() if k not in ("AGENT_SESSIONS_URL", "AGENT_SESSIONS_SECRET_KEY")}
    result = subprocess.run(
        [*CLI, *words[len(assigned) + 1 :], "--chat-id", "cli-banner"],
        input="over here\n",
        capture_output=True,
        text=True,
        env={**bare, **assigned},
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "You said: over here." in result.stdout


def test_sessions_commands(env: dict[str, str]) -> None:
    run(["chat", "demo-chat", "--chat-id", "cli-sessions"], env, stdin="hi\n")
    listed = run(["sessions", "list", "--limit", "100"], env)
    assert "cli-sessions" in listed.stdout
    shown = run(["sessions", "show", "cli-sessions"], env)
    assert '"externalId": "cli-sessions"' in shown.stdout
    runs = run(["sessions", "runs", "cli-sessions"], env)
    assert "initial" in runs.stdout
    closed = run(["sessions", "close", "cli-sessions", "--reason", "done"], env)
    assert closed.returncode == 0 and "closed session_" in closed.stdout
    again = run(["chat", "demo-chat", "--chat-id", "cli-sessions"], env, stdin="more\n")
    assert "This chat is closed (done)." in again.stdout


def test_tail_follows_a_sessions_output(env: dict[str, str], stack: LocalStack) -> None:
    with AgentSessions(stack.secret_key, stack.base_url) as client:
        from agent_sessions.client import AgentChat

        agent = AgentChat("demo-chat", id="cli-tail", client=client)
        agent.preload()
        tail = subprocess.Popen(
            [*CLI, "tail", "cli-tail"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        output = Output(tail)
        time.sleep(1.0)
        agent.text("tail me")
        out = output.wait_for("[turn-complete")
        tail.send_signal(signal.SIGINT)
        assert tail.wait(10) == 0
    assert "You said: tail me." in out


@pytest.mark.parametrize(
    ("args", "overrides", "message"),
    [
        (["sessions", "list"], {"AGENT_SESSIONS_SECRET_KEY": "tr_dev_" + "x" * 24}, "secret key was refused"),
        (["sessions", "show", "no-such-chat"], {}, "no such chat or session"),
        (["tail", "no-such-chat"], {}, "no such chat or session"),
        (
            ["sessions", "list"],
            {"AGENT_SESSIONS_URL": "http://127.0.0.1:9"},
            "cannot reach http://127.0.0.1:9",
        ),
        (["chat", "demo-chat"], {"AGENT_SESSIONS_URL": "http://127.0.0.1:9"}, "cannot reach"),
    ],
)
def test_errors_are_one_readable_line(
    env: dict[str, str], args: list[str], overrides: dict[str, Any], message: str
) -> None:
    result = run(args, {**env, **overrides}, stdin="hi\n")
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "Chatting with" not in result.stdout  # nothing promises a chat that cannot happen


def test_the_local_dev_key_is_found_without_configuration(
    env: dict[str, str], stack: LocalStack, tmp_path: Path
) -> None:
    state = tmp_path / "dev-state"
    state.mkdir()
    (state / "secret-key").write_text(stack.secret_key + "\n")
    bare = {k: v for k, v in env.items() if k not in ("AGENT_SESSIONS_SECRET_KEY", "TRIGGER_SECRET_KEY")}
    result = run(["sessions", "list"], {**bare, "AGENT_SESSIONS_STATE_DIR": str(state)})
    assert result.returncode == 0, result.stderr


def test_runs_live_lists_a_run_cancel_ends_it_and_the_chat_continues(
    env: dict[str, str], stack: LocalStack
) -> None:
    first = run(["chat", "demo-chat", "--chat-id", "cli-kill"], env, stdin="before cancel\n")
    assert "You said: before cancel." in first.stdout, first.stderr
    with AgentSessions(stack.secret_key, stack.base_url) as client:
        run_id = client.sessions.retrieve("cli-kill").current_run_id
    listed = run(["runs", "--live"], env)
    assert listed.returncode == 0 and run_id in listed.stdout, listed.stdout + listed.stderr

    canceled = run(["runs", "--cancel", str(run_id)], env)

    assert canceled.returncode == 0 and f"canceled {run_id}" in canceled.stdout, canceled.stderr
    again = run(["chat", "demo-chat", "--chat-id", "cli-kill"], env, stdin="after cancel\n")
    assert "You said: after cancel." in again.stdout, again.stderr
    with AgentSessions(stack.secret_key, stack.base_url) as client:
        assert [r.reason for r in client.sessions.runs("cli-kill")] == ["initial", "continuation"]
