"""Shared Powertools logger, metrics and tracer.

Request events are never logged (they carry bearer tokens); keys appended are ids only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "agent-sessions"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="AgentSessions", service=SERVICE)


@lru_cache(maxsize=1)
def get_tracer() -> Tracer:
    """The X-Ray tracer, built on first use: it imports the X-Ray SDK and patches botocore, which
    the SSE app (and the local stack) never need, so their cold start does not pay for it."""
    from aws_lambda_powertools import Tracer

    # Only botocore (DynamoDB, Step Functions calls): X-Ray's patch_all would import httpx (and,
    # through it, click) into every handler's cold start just to patch a client nothing uses there.
    return Tracer(service=SERVICE, patch_modules=("botocore",))
