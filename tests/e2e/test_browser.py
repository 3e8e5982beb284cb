"""The web chat (useChat + useTriggerChatTransport) in Debian's Chromium, driven by playwright-core."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, RunningStack

pytestmark = pytest.mark.e2e

SCENARIOS = [
    "streamed-reply",
    "reload-mid-stream",
    "stop-and-send-again",
    "preload",
    "token-recovery",
    "closed-session",
]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_web_chat_in_a_real_browser(local_stack: RunningStack, scenario: str) -> None:
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make browser-deps` installs Debian's package"
    assert (ROOT / "web" / "dist" / "index.html").exists(), "the web chat is not built: `make web`"
    result = subprocess.run(
        [shutil.which("node") or "node", "tests/browser/browser.mjs", scenario],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "BASE_URL": local_stack.base_url, "CHROMIUM": CHROMIUM},
    )
    assert result.returncode == 0, f"{scenario} failed:\n{result.stdout}\n{result.stderr}"
    assert f'"scenario":"{scenario}","ok":true' in result.stdout
