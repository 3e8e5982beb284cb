"""`pip install agent-sessions` is the light client install: httpx, httpx-sse, pydantic and PyJWT, no
AWS libraries; the server side is the `server` extra and the Lambda layer's requirements."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIP = [sys.executable, "-m", "pip"]
LIGHT = {"httpx", "httpx-sse", "pydantic", "pyjwt"}
SERVER_ONLY = (
    "boto3",
    "botocore",
    "pynamodb",
    "aws_lambda_powertools",
    "pydantic_settings",
    "starlette",
    "uvicorn",
)

pytestmark = pytest.mark.infra


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _local_indexes() -> dict[str, str]:
    """Resolve from the machine's file:// package indexes when pip is configured with some (offline,
    as here); otherwise pip's own configuration (a registry) serves."""
    configured = subprocess.run(
        [*PIP, "config", "get", "global.extra-index-url"], capture_output=True, text=True
    ).stdout.split()
    configured += os.environ.get("PIP_EXTRA_INDEX_URL", "").split()
    local = [url for url in configured if url.startswith("file://") and Path(url[len("file://") :]).is_dir()]
    if not local:
        return {}
    return {"PIP_INDEX_URL": local[0], "PIP_EXTRA_INDEX_URL": " ".join(local[1:])}


def _pip(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*PIP, *args], capture_output=True, text=True, timeout=180, env={**os.environ, **env}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_the_wheel_installs_without_extras_and_runs_the_client_and_cli_without_boto3(tmp_path: Path) -> None:
    env = {**_local_indexes(), "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    source = tmp_path / "src"  # a copy, so the build writes nothing into the worktree
    shutil.copytree(
        ROOT / "layers" / "shared" / "agent_sessions",
        source / "layers" / "shared" / "agent_sessions",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(source), env=env)
    (wheel,) = dist.glob("agent_sessions-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [
            line.split(":", 1)[1].strip()
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    assert _names([r for r in requires if "extra ==" not in r]) == LIGHT

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    _pip("--python", str(python), "install", "--quiet", "--find-links", str(dist), str(wheel), env=env)

    probe = (
        "import importlib.util, sys, agent_sessions.client, agent_sessions.client.cli\n"
        f"print([m for m in {SERVER_ONLY!r} if importlib.util.find_spec(m) is not None])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(" + repr(SERVER_ONLY) + ")))\n"
    )
    imported = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split("\n")[:2] == ["[]", "[]"], "boto3 & co. are neither installed nor imported"
    no_boto3 = subprocess.run([str(python), "-c", "import boto3"], capture_output=True, text=True)
    assert "No module named 'boto3'" in no_boto3.stderr
    helped = subprocess.run(
        [str(venv / "bin" / "agent-sessions"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0 and "chat" in helped.stdout, helped.stderr


def test_the_layer_requirements_carry_the_server_side() -> None:
    """`sam build` installs layers/shared/requirements.txt into the layer: it must hold the server
    extra (less boto3, which the Lambda runtime provides) and the light dependencies the server uses."""
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    server = _names(project["optional-dependencies"]["server"])
    lines = (ROOT / "layers" / "shared" / "requirements.txt").read_text().splitlines()
    layer = _names([line for line in lines if line.strip() and not line.startswith("#")])
    assert (server - {"boto3"}) | {"pydantic", "pyjwt", "httpx"} <= layer
    assert not _names(project["dependencies"]) & (server | {"boto3"}), "the light install stays light"
