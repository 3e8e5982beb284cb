"""Shared Powertools logger, metrics and tracer.

Request events are never logged (they carry bearer tokens); keys appended are ids only.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "agent-sessions"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="AgentSessions", service=SERVICE)
tracer = Tracer(service=SERVICE)
