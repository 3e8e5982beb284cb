"""The web chat (useChat + useTriggerChatTransport) in Debian's Chromium, driven by playwright-core.

One Node process and one browser run every scenario (tests/browser/browser.mjs), each at a phone
(390 px) and a desktop (1280 px) width at once, in fresh browser contexts; each test below asserts
its scenario's result. Screenshots go to tests/browser/screenshots/ (docs/screenshot.png is one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, RunningStack

pytestmark = pytest.mark.e2e

SCENARIOS = [
    "empty-state",
    "keyboard",
    "streamed-reply",
    "reload-mid-stream",
    "stop-and-send-again",
    "preload",
    "token-recovery",
    "closed-session",
    "agent-error",
    "pydantic-ai-tool",
    "fresh-browser",
    "layout",
    "multi-tab",
    # human in the loop, with examples/hitl_agent.py (issue 11 item 8)
    "hitl-ask-warm",
    "hitl-ask-after-suspend",
    "hitl-ask-continuation",
    "hitl-approve-once",
    "hitl-deny",
    "hitl-reload-pending",
]
SHOTLESS = {"hitl-ask-after-suspend", "hitl-ask-continuation", "hitl-reload-pending"}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "tests" / "browser" / "screenshots"


@pytest.fixture(scope="module")
def browser_run(local_stack: RunningStack) -> dict[str, Any]:
    """Every scenario's result line, from one run of the browser script."""
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make browser-deps` installs Debian's package"
    assert (ROOT / "web" / "dist" / "index.html").exists(), "the web chat is not built: `make web`"
    result = subprocess.run(
        [shutil.which("node") or "node", "tests/browser/browser.mjs", *SCENARIOS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={
            **os.environ,
            "BASE_URL": local_stack.base_url,
            "CHROMIUM": CHROMIUM,
            "SCREENSHOTS": str(SCREENSHOTS),
            "SECRET_KEY": local_stack.secret_key,
        },
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {"results": {r["scenario"]: r for r in lines}, "stderr": result.stderr}


# The first test also pays for the fixture: every scenario, at two widths (about a minute idle,
# several under load), so it gets more than the suite's 300 s default.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_web_chat_in_a_real_browser(browser_run: dict[str, Any], scenario: str) -> None:
    outcome = browser_run["results"].get(scenario)
    assert outcome is not None, f"{scenario} did not run:\n{browser_run['stderr']}"
    assert outcome["ok"], f"{scenario} failed:\n{outcome.get('error')}"
    if scenario in SHOTLESS:
        return
    for width in (390, 1280):
        assert (SCREENSHOTS / f"{scenario}-{width}.png").exists()
