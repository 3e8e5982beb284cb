"""Schema fuzz: schemathesis drives every operation of `/openapi.json` against the local stack's app.

Per operation and per credential (the secret key, a session PAT, none): generated cases (valid
and schema-violating) plus targeted values (numbers, dates, cursors, encodings, lengths: where
the 500s of issue 9 item 3 came from). Invariants: no 5xx; every 4xx is JSON `{error, code}` with
CORS headers; a rejected request leaves every table unchanged (compared item by item).

Figures go to `bench/results/fuzz.json`. CI runs `FUZZ_EXAMPLES` (default 40) generated and as
many targeted cases per operation and credential; `make fuzz` runs more.
"""

from __future__ import annotations

import base64
import json
import os
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from agent_sessions.config import reset_settings
from agent_sessions.http import params
from agent_sessions.local import server
from tests.integration.conftest import create_body
from tests.support import ENV, count_dynamodb_calls, table_state

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "fuzz.json"
ORIGIN = "https://fuzz.example"
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}

NASTY_NUMBERS = [
    "²",
    "١٢",
    "-1",
    "1e3",
    " 1",
    "0x10",
    "9" * 5000,
    "9" * 39,
    str(2**63),
    str(params.MAX_SEQ + 1),
    "NaN",
    "Infinity",
    "99999999999w",
    "9999999999999d",
    "",
]
NASTY_STRINGS = [
    "%",
    "%0A",
    "\n",
    "a/b",
    "..",
    "session_",
    "chat-1:out",
    "😀" * 300,
    "x" * 257,
    "x" * 3000,
    "\x00",
    "é" * 600,
    base64.urlsafe_b64encode(b'{"a":1}').decode(),
    base64.urlsafe_b64encode(b'{"pk":{"S":"env_other#x"},"list_env":{"S":"env_other"},"list_key":{"S":"k"}}')
    .decode()
    .rstrip("="),
    base64.urlsafe_b64encode(json.dumps({"pk": {"S": "x" * 3000}}).encode()).decode(),
]
NASTY_DATES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:00:00-01:00",
    "0001-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "1e400",
]
NASTY_BODIES: list[str | bytes] = [
    '{"scopes":["read:sessions:a"],"expirationTime":Infinity}',
    '{"metadata":NaN}',
    '{"a":' + "9" * 5000 + "}",
    '{"a":1e400}',
    "[" * 10_000,
    b'{"kind":"stop","x":"\xff\xfe"}',
    "",
    "null",
    '"text"',
]
NASTY = NASTY_NUMBERS + NASTY_STRINGS + NASTY_DATES


class Tally:
    def __init__(self) -> None:
        self.cases = 0
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[str] = []
        self.nonconforming: list[str] = []
        self.changed_on_reject: list[str] = []

    def note(self, label: str, status: int, problem: str | None, changed: bool) -> None:
        self.cases += 1
        self.statuses[status] += 1
        if status >= 500:
            self.server_errors.append(label)
        elif problem:
            self.nonconforming.append(f"{label}: {problem}")
        if changed:
            self.changed_on_reject.append(label)


TALLY = Tally()


def _header(response: Any, name: str) -> str:
    value = {k.lower(): v for k, v in response.headers.items()}.get(name, "")
    return str(value[0] if isinstance(value, list) and value else value or "")


def problem_with(method: str, response: Any) -> str | None:
    """Why a 4xx breaks the contract, or None (a HEAD answer has the headers, never a body)."""
    if not 400 <= response.status_code < 500:
        return None
    if not _header(response, "access-control-allow-origin"):
        return f"{response.status_code} without CORS"
    if method == "HEAD":
        content_type = _header(response, "content-type")
        return None if content_type.startswith("application/json") else f"HEAD content-type {content_type!r}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{response.status_code} not JSON: {response.content[:80]!r}"
    if not (
        isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("code"), str)
    ):
        return f"{response.status_code} body {body!r:.80}"
    return None


@pytest.fixture
def fuzz_env(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The app with a real session to hit, SSE windows closed at once; yields the credentials."""
    monkeypatch.setenv("AGENT_SESSIONS_SSE_MAX_TIMEOUT_SECONDS", "0")
    reset_settings()
    app = server.create_app()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    from starlette.testclient import TestClient

    with TestClient(app) as client:
        created = client.post(
            "/api/v1/sessions",
            json=create_body("chat-1"),
            headers={"authorization": f"Bearer {ENV.secret_key}"},
        ).json()
    yield {
        "schema": schema,
        "secret": ENV.secret_key,
        "pat": created["publicAccessToken"],
        "id": created["id"],
    }
    reset_settings()


def moto_state() -> dict[str, list[str]]:
    """`table_state()` read straight from moto's in-memory tables (the same items, without the
    cost of a Scan through botocore per case)."""
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends["123456789012"]["us-east-1"]
    return {
        name: sorted(json.dumps(item.to_json(), sort_keys=True) for item in table.all_items())
        for name, table in backend.tables.items()
    }


def _targeted(case: Any, rng: random.Random) -> None:
    """Put one nasty value where the operation takes input: a path segment, a query or header
    parameter, a body field, or the whole body."""
    slots: list[tuple[str, str]] = []
    for parameter in case.operation.path_parameters:
        slots.append(("path", parameter.name))
    for parameter in case.operation.query:
        slots.append(("query", parameter.name))
    for parameter in case.operation.headers:
        slots.append(("header", parameter.name))
    if isinstance(case.body, dict):
        slots += [("field", key) for key in ("expiresAt", "metadata", "expirationTime", "externalId", "tags")]
        slots.append(("body", ""))
    elif case.operation.body:
        slots.append(("body", ""))
    if not slots:
        return
    where, name = rng.choice(slots)
    if where == "path":
        case.path_parameters[name] = rng.choice(NASTY)
    elif where == "query":
        case.query = {**(case.query or {}), name: rng.choice(NASTY)}
    elif where == "header":
        case.headers = {
            **(case.headers or {}),
            name: rng.choice([v for v in NASTY if "\n" not in v and "\x00" not in v]),
        }
    elif where == "field":
        case.body[name] = rng.choice(NASTY_DATES if name == "expiresAt" else NASTY)
    else:
        case.body = rng.choice(NASTY_BODIES)


def _run(fuzz_env: dict[str, Any], credential: str, targeted: bool) -> None:
    schema = fuzz_env["schema"]
    token = {"secret": fuzz_env["secret"], "pat": fuzz_env["pat"], "none": None}[credential]
    headers = {"origin": ORIGIN}
    if token:
        headers["authorization"] = f"Bearer {token}"
    rng = random.Random(f"{credential}-{targeted}")
    snapshot = [moto_state()]
    assert {k: len(v) for k, v in snapshot[0].items()} == {k: len(v) for k, v in table_state().items()}
    for result in schema.get_all_operations():
        operation = result.ok()
        known = {"session": rng.choice(["chat-1", fuzz_env["id"]])}
        if "io" in [p.name for p in operation.path_parameters]:
            known["io"] = "out" if credential == "pat" else rng.choice(["in", "out"])
        strategy = st.one_of(
            operation.as_strategy(),
            operation.as_strategy(path_parameters={k: v for k, v in known.items() if k in _names(operation)}),
            operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            if targeted:
                _targeted(case, rng)
            try:
                with count_dynamodb_calls() as calls:
                    response = case.call(headers=headers)
            except Exception as exc:  # the transport refused to send it (e.g. a header it cannot encode)
                if "header" in str(exc).lower() or "encode" in str(exc).lower():
                    return
                raise
            # Only a request that sent a write can change a table: rescan then, and compare with
            # the state before it (still valid, as nothing wrote since the last scan).
            changed = False
            if any(name in WRITES for name, _ in calls.calls):
                after = moto_state()
                changed = 400 <= response.status_code < 500 and after != snapshot[0]
                snapshot[0] = after
            TALLY.note(
                f"{credential} {case.operation.label} -> {response.status_code}",
                response.status_code,
                problem_with(case.method.upper(), response),
                changed,
            )

        check()


def _names(operation: Any) -> set[str]:
    return {p.name for p in operation.path_parameters}


@pytest.mark.parametrize("targeted", [False, True], ids=["generated", "targeted"])
@pytest.mark.parametrize("credential", ["secret", "pat", "none"])
def test_schema_fuzz(fuzz_env: dict[str, Any], credential: str, targeted: bool) -> None:
    before = (TALLY.cases, len(TALLY.server_errors), len(TALLY.nonconforming), len(TALLY.changed_on_reject))
    _run(fuzz_env, credential, targeted)
    _write_results()
    assert TALLY.cases > before[0]
    assert TALLY.server_errors[before[1] :] == []
    assert TALLY.nonconforming[before[2] :] == []
    assert TALLY.changed_on_reject[before[3] :] == []


def _write_results() -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "examples_per_operation_and_credential": EXAMPLES,
                "cases": TALLY.cases,
                "server_errors": len(TALLY.server_errors),
                "nonconforming_4xx": len(TALLY.nonconforming),
                "rejected_but_changed_tables": len(TALLY.changed_on_reject),
                "statuses": {str(k): v for k, v in sorted(TALLY.statuses.items())},
                "examples": {
                    "server_errors": TALLY.server_errors[:10],
                    "nonconforming_4xx": TALLY.nonconforming[:10],
                    "rejected_but_changed_tables": TALLY.changed_on_reject[:10],
                },
            },
            indent=2,
        )
        + "\n"
    )
