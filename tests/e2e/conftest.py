from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    base_url: str
    secret_key: str
    output: list[str]


def start_stack(state_dir: Path, **env: str) -> RunningStack:
    """`python -m agent_sessions.local`, exactly what `make dev` runs, on a free port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "agent_sessions.local", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AGENT_SESSIONS_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1", **env},
    )
    output: list[str] = []
    deadline = time.monotonic() + 60
    url = key = None
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if m := re.search(r"URL:\s+(\S+)", line):
            url = m.group(1)
        if m := re.search(r"Secret key:\s+(\S+)", line):
            key = m.group(1)
        if "Ctrl-C" in line:
            break
    if not (url and key):
        process.kill()
        raise AssertionError("local stack did not start:\n" + "".join(output))
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    return RunningStack(process, url, key, output)


def node_scenario(stack: RunningStack, scenario: str, script: str = "e2e.mjs") -> None:
    """Run one scenario of a tests/node script (the real npm clients) against `stack`; fail with
    its output unless it exits 0 and reports `{"scenario": ..., "ok": true}`."""
    node = shutil.which("node")
    assert node, "Node 20 is required for the end-to-end tests"
    assert (NODE_DIR / "node_modules" / "@trigger.dev" / "sdk").exists(), (
        "run `make node-deps` (make test does)"
    )
    result = subprocess.run(
        [node, script, scenario],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BASE_URL": stack.base_url, "SECRET_KEY": stack.secret_key},
    )
    assert result.returncode == 0, f"{script} {scenario} failed:\n{result.stdout}\n{result.stderr}"
    assert f'"scenario":"{scenario}","ok":true' in result.stdout


def stop_stack(stack: RunningStack) -> int:
    stack.process.send_signal(signal.SIGINT)
    try:
        stack.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        raise
    return stack.process.returncode


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # Beside demo-chat: the browser tests' agents, the human-in-the-loop and Pydantic AI examples.
    modules = '["tests.e2e.browser_agents", "examples.hitl_agent", "examples.pydantic_ai_agent"]'
    stack = start_stack(tmp_path_factory.mktemp("stack-state"), AGENT_SESSIONS_AGENT_MODULES=modules)
    yield stack
    stop_stack(stack)
