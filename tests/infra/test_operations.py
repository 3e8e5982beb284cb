"""The dashboard and alarms in template.yaml watch metrics the code really emits.

A Powertools metric renamed in the package (or an alarm naming one that does not exist) fails here:
every `AgentSessions` metric the template references must match an `add_metric(name=...)` call in
`layers/shared/agent_sessions`, with the dimensions Powertools gives it.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from agent_sessions import runs
from agent_sessions.observability import SERVICE, metrics

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "shared" / "agent_sessions"
NAMESPACE = "AgentSessions"

pytestmark = pytest.mark.infra


@lru_cache(maxsize=1)
def _template() -> dict[str, Any]:
    """Decoded once per session (cfn-lint's decoder takes seconds); the tests only read it."""
    template, matches = decode(str(ROOT / "template.yaml"))
    assert not matches, matches
    return dict(template)


def _name_patterns(node: ast.expr, module: ast.Module) -> Iterator[str]:
    """Regexes for the metric names an `add_metric(name=<node>)` argument can produce."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield re.escape(node.value)
    elif isinstance(node, ast.JoinedStr):
        yield "".join(
            re.escape(v.value) if isinstance(v, ast.Constant) else "(?P<var>[A-Za-z0-9_]+)"
            for v in node.values
        )
    elif isinstance(node, ast.IfExp):
        yield from _name_patterns(node.body, module)
        yield from _name_patterns(node.orelse, module)
    elif isinstance(node, ast.Name) and (names := list(_loop_values(node.id, module))):
        yield from (re.escape(name) for name in names)
    else:
        raise AssertionError(f"metric name {ast.unparse(node)} is not a literal this test can read")


def _loop_values(variable: str, module: ast.Module) -> Iterator[str]:
    """The literals `variable` takes in a `for variable[, ...] in (<literal>, ...)` loop."""
    for loop in ast.walk(module):
        if not isinstance(loop, ast.For) or not isinstance(loop.iter, ast.Tuple | ast.List):
            continue
        targets = loop.target.elts if isinstance(loop.target, ast.Tuple) else [loop.target]
        index = next((i for i, t in enumerate(targets) if isinstance(t, ast.Name) and t.id == variable), None)
        if index is None:
            continue
        for item in loop.iter.elts:
            value = item.elts[index] if isinstance(item, ast.Tuple) else item
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                yield value.value


@lru_cache(maxsize=1)
def _emitted() -> tuple[str, ...]:
    patterns: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        module = ast.parse(path.read_text())
        for node in ast.walk(module):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_metric"
            ):
                name = next(k.value for k in node.keywords if k.arg == "name")
                patterns.extend(_name_patterns(name, module))
    return tuple(patterns)


def _sub_body(value: Any) -> dict[str, Any]:
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return dict(json.loads(re.sub(r"\$\{[^}]+\}", "x", text)))


def _dashboard_metrics(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, str]]]:
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Dashboard":
            continue
        for widget in _sub_body(resource["Properties"]["DashboardBody"])["widgets"]:
            for metric in widget.get("properties", {}).get("metrics", []):
                fields = [f for f in metric if not isinstance(f, dict)]
                namespace, name, dims = fields[0], fields[1], fields[2:]
                yield namespace, name, dict(zip(dims[::2], dims[1::2], strict=True))


def _alarm_metrics(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for resource in _alarms(template).values():
        props = resource["Properties"]
        if "MetricName" in props:
            dims = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
            yield props["Namespace"], props["MetricName"], dims
        for query in props.get("Metrics", []):
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                yield metric["Namespace"], metric["MetricName"], dims


def _alarms(template: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}


def test_every_app_metric_the_template_watches_is_emitted_by_the_code() -> None:
    template = _template()
    emitted = _emitted()
    watched = [
        (name, dims)
        for namespace, name, dims in [*_dashboard_metrics(template), *_alarm_metrics(template)]
        if namespace == NAMESPACE
    ]
    assert len(watched) >= 10
    for name, dims in watched:
        match = next((m for p in emitted if (m := re.fullmatch(p, name))), None)
        assert match is not None, f"{name} is watched in template.yaml but no add_metric emits it"
        if "var" in match.groupdict() and name.startswith("RunsStarted_"):
            assert match["var"] in runs.AUDIT_REASONS, name
        # Powertools' only default dimension is the service; a metric with other dimensions
        # would be a different metric to CloudWatch.
        assert dims == {"service": SERVICE}, (name, dims)


def test_the_code_and_the_template_agree_on_namespace_and_service() -> None:
    template = _template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE == metrics.namespace
    assert variables["POWERTOOLS_SERVICE_NAME"] == SERVICE


def test_the_metrics_an_operator_needs_have_alarms() -> None:
    """Issue 13: wedged/failed runs, first-token latency, `.out` write rate, cost, throttles, 5xx."""
    alarmed = {(namespace, name) for namespace, name, _ in _alarm_metrics(_template())}
    for needed in [
        (NAMESPACE, "RunsFailed"),
        (NAMESPACE, "RunsRecovered"),
        (NAMESPACE, "TimeToFirstChunk"),
        (NAMESPACE, "RecordsWritten"),
        (NAMESPACE, "WorkerGbSeconds"),
        ("AWS/DynamoDB", "ReadThrottleEvents"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
        ("AWS/ApiGateway", "5xx"),
        ("AWS/Lambda", "Url5xxCount"),
        ("AWS/States", "ExecutionsFailed"),
    ]:
        assert needed in alarmed, needed


def test_every_function_has_error_and_throttle_alarms() -> None:
    template = _template()
    functions = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]
    watched = {
        (name, dims["FunctionName"]["Ref"])
        for namespace, name, dims in _alarm_metrics(template)
        if namespace == "AWS/Lambda" and "FunctionName" in dims
    }
    for function in functions:
        assert ("Errors", function) in watched, function
        assert ("Throttles", function) in watched, function


def test_every_table_is_watched_for_throttles() -> None:
    template = _template()
    tables = {k for k, v in template["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table"}
    for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
        watched = {
            dims["TableName"]["Ref"]
            for namespace, name, dims in _alarm_metrics(template)
            if namespace == "AWS/DynamoDB" and name == metric
        }
        assert watched == tables, metric


def test_alarm_actions_go_to_the_optional_topic() -> None:
    template = _template()
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert template["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }
    expected = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    alarms = _alarms(template)
    assert len(alarms) >= 20
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == expected, name
        assert alarm["Properties"]["OKActions"] == expected, name
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching", name


def test_the_dashboard_shows_every_alarm() -> None:
    template = _template()
    (dashboard,) = [v for v in template["Resources"].values() if v["Type"] == "AWS::CloudWatch::Dashboard"]
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    shown = set(re.findall(r"\$\{(\w+)\.Arn\}", text))
    assert shown == set(_alarms(template))


def test_the_name_check_catches_a_renamed_metric() -> None:
    emitted = _emitted()
    for name in ("TimeToFirstChunk", "RunsStarted_initial", "SessionsReused", "ModelOutputTokens"):
        assert any(re.fullmatch(p, name) for p in emitted), name
    assert not any(re.fullmatch(p, "TimeToFirstToken") for p in emitted)
