"""Offline infrastructure checks: cfn-lint, sam validate --lint, asl-validator, schema agreement."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from agent_sessions import store

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "statemachines" / "agent_run.asl.json"
NODE_BIN = ROOT / "tests" / "node" / "node_modules" / ".bin"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.infra


def _template() -> dict[str, Any]:
    template, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return dict(template)


def _run(*cmd: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1", **env},
    )


def test_cfn_lint_passes() -> None:
    result = _run(str(BIN / "cfn-lint"), str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes() -> None:
    result = _run(
        str(BIN / "sam"), "validate", "--lint", "--template-file", str(TEMPLATE), "--region", "us-east-1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_asl_validator_passes() -> None:
    validator = NODE_BIN / "asl-validator"
    assert validator.exists(), "run `make node-deps` (make test does)"
    result = _run(str(validator), "--json-path", str(ASL))
    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_catches_a_broken_definition(tmp_path: Path) -> None:
    broken = json.loads(ASL.read_text())
    broken["States"]["Route"]["Default"] = "Nowhere"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(broken))
    assert _run(str(NODE_BIN / "asl-validator"), "--json-path", str(path)).returncode != 0


def test_state_machine_substitutions_are_all_provided() -> None:
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    machine = _template()["Resources"]["AgentRunStateMachine"]["Properties"]
    assert placeholders == set(machine["DefinitionSubstitutions"])
    assert machine["Type"] == "STANDARD"


def _key_schema(model: type[store.Model]) -> dict[str, str]:
    return {
        attr.attr_name: ("HASH" if attr.is_hash_key else "RANGE")
        for attr in model.get_attributes().values()
        if attr.is_hash_key or attr.is_range_key
    }


@pytest.mark.parametrize(
    ("resource", "model"),
    [
        ("SessionsTable", store.SessionModel),
        ("RunsTable", store.RunModel),
        ("StreamsTable", store.StreamItem),
    ],
)
def test_pynamodb_key_schemas_match_the_template(resource: str, model: type[store.Model]) -> None:
    table = _template()["Resources"][resource]["Properties"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == _key_schema(model)
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    for name in _key_schema(model):
        assert types[name] == model.get_attributes()[name].attr_type
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    for index in model._indexes.values():
        template_index = indexes[index.Meta.index_name]
        expected = {
            a.attr_name: ("HASH" if a.is_hash_key else "RANGE")
            for a in index.Meta.attributes.values()
            if a.is_hash_key or a.is_range_key
        }
        assert {k["AttributeName"]: k["KeyType"] for k in template_index["KeySchema"]} == expected
    ttl = [a.attr_name for a in model.get_attributes().values() if isinstance(a, store.TTLAttribute)]
    assert table.get("TimeToLiveSpecification", {}).get("AttributeName") == (ttl[0] if ttl else None)


def test_every_handler_folder_is_thin() -> None:
    for folder in sorted((ROOT / "functions").iterdir()):
        source = (folder / "app.py").read_text()
        body = [
            n for n in ast.parse(source).body if not isinstance(n, ast.Import | ast.ImportFrom | ast.Expr)
        ]
        assert len(body) <= 2, f"{folder.name}/app.py holds logic; move it to the layer"
        assert sorted(p.name for p in folder.iterdir() if p.name != "__pycache__") in (
            ["app.py"],
            ["app.py", "run.sh"],
        )


def test_stream_function_runs_behind_the_web_adapter_in_stream_mode() -> None:
    fn = _template()["Resources"]["OutStreamFunction"]["Properties"]
    assert fn["FunctionUrlConfig"]["InvokeMode"] == "RESPONSE_STREAM"
    assert fn["Environment"]["Variables"]["AWS_LWA_INVOKE_MODE"] == "response_stream"
    run_sh = ROOT / "functions" / "out_stream" / "run.sh"
    assert os.access(run_sh, os.X_OK) and b"\r" not in run_sh.read_bytes()


def test_policies_name_resources_never_wildcards() -> None:
    for name, resource in _template()["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                resources = statement["Resource"]
                assert "*" not in json.dumps(resources, default=str), f"{name} grants a wildcard resource"
                assert all(not a.endswith(":*") for a in statement["Action"]), (
                    f"{name} grants a wildcard action"
                )


def test_every_function_handler_imports() -> None:
    import importlib.util

    for folder in sorted((ROOT / "functions").iterdir()):
        spec = importlib.util.spec_from_file_location(f"fn_{folder.name}", folder / "app.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert callable(getattr(module, "handler", None) or getattr(module, "app", None))


def test_allowed_origin_parameter_reaches_every_function() -> None:
    template = _template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["AGENT_SESSIONS_ALLOWED_ORIGINS"] == {"Ref": "AllowedOrigin"}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            own = resource["Properties"].get("Environment", {}).get("Variables", {})
            assert "AGENT_SESSIONS_ALLOWED_ORIGINS" not in own, name


def test_unmatched_http_api_requests_reach_a_function() -> None:
    """API Gateway's own 404 has no CORS and no `{error, code}`; a `$default` route hands misses to us."""
    events = _template()["Resources"]["SessionControlFunction"]["Properties"]["Events"]
    assert any(e["Properties"]["Path"] == "$default" for e in events.values())


def test_out_retention_parameter_reaches_every_function_and_settings() -> None:
    """The worker trims with it and the readers never need it, but one value everywhere is simplest."""
    from agent_sessions.config import Settings

    template = _template()
    parameter = template["Parameters"]["OutRetentionSeconds"]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["AGENT_SESSIONS_OUT_RETENTION_SECONDS"] == {"Ref": "OutRetentionSeconds"}
    assert parameter["Default"] == Settings().out_retention_seconds
    assert parameter["MinValue"] == 0


def test_the_layer_ships_bytecode_for_the_functions_python() -> None:
    """Lambda mounts the layer read-only, so a module without its .pyc is compiled at every cold
    start (SAM's python3.12 build method ships none: about 600 ms of CPU per cold start, issue 10).
    The layer's Makefile compiles for the functions' runtime; a .pyc of another version is ignored."""
    template = _template()
    layer = template["Resources"]["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / "layers" / "shared" / "Makefile").read_text()
    assert "build-SharedLayer:" in makefile and "$(MAKE) bytecode" in makefile
    version = re.search(r"^LAMBDA_PYTHON := (\S+)$", makefile, re.M)
    assert version, "the Makefile names the runtime's Python version"
    runtime = f"python{version.group(1)}"
    assert template["Globals"]["Function"]["Runtime"] == runtime
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert resource["Properties"].get("Runtime", runtime) == runtime, name


def test_the_layer_bytecode_step_compiles_every_module_unchecked(tmp_path: Path) -> None:
    """What `make bytecode` leaves: a PEP 552 unchecked-hash .pyc beside every module (valid
    whatever mtimes the deployment zip gives the sources), a stale one replaced."""
    import shutil

    package = tmp_path / "agent_sessions"
    shutil.copytree(ROOT / "layers" / "shared" / "agent_sessions", package)
    stale = package / "__pycache__" / f"ids.{sys.implementation.cache_tag}.pyc"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"stale")
    result = subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT / "layers" / "shared"),
            "bytecode",
            f"DIR={tmp_path}",
            f"PYTHON={sys.executable}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    sources = sorted(package.rglob("*.py"))
    assert len(sources) > 50
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        header = compiled.read_bytes()[:16]
        assert int.from_bytes(header[4:8], "little") == 0b01, f"{compiled}: not unchecked-hash"
