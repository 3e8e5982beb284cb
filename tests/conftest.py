"""Test-wide environment: fake AWS credentials and quiet Powertools, set before any AWS import."""

from __future__ import annotations

import os

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "AgentSessionsTest",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
for name in ("AGENT_SESSIONS_SECRET_KEY", "AGENT_SESSIONS_DYNAMODB_URL", "AGENT_SESSIONS_KEYS_SECRET_NAME"):
    os.environ.pop(name, None)

import moto  # noqa: E402,F401  (must precede boto3 client creation so clients are intercepted)
